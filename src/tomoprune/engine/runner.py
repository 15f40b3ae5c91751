"""From a RunConfig to a finished run directory: data, model, method, loop, records."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tomoprune import config as cfg
from tomoprune.accounting import Accounting, account, summary_columns
from tomoprune.data.datasets import load_dataset, train_validation_split
from tomoprune.engine.compress import CompressionLoop, LoopResult
from tomoprune.engine.progress import Reporter
from tomoprune.engine.task import Task
from tomoprune.errors import ConfigError, RecordError
from tomoprune.methods import METHOD_REGISTRY
from tomoprune.methods.l0.sparse_export import SPARSE_EXPORT_FILE, write_sparse_export
from tomoprune.models import build_model
from tomoprune.records import schema
from tomoprune.records.provenance import provenance
from tomoprune.records.run_dir import RunDirectory
from tomoprune.runtime import configure_threads, solver_threads, thread_report

RUN_FORMAT = "tomoprune.run/1"


def resolve_device(name: str) -> torch.device:
    """CPU by default; a CUDA device only when asked for and present."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"The 'device' setting must be cpu, cuda or cuda:N. Got {name!r} instead."
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device {name!r} requested but no CUDA device is available; use --device cpu."
        )
    return device


def make_task(config: cfg.RunConfig) -> Task:
    """Load the dataset and carve the validation split the config asks for."""
    data = load_dataset(config.data.dataset, config.data.data_dir)
    train_x, train_y, val_x, val_y = data.train_x, data.train_y, None, None
    if config.data.validation_size:
        split = train_validation_split(
            data,
            config.data.validation_size,
            config.data.split_seed,
            n_train=config.data.train_size,
        )
        train_x, train_y, val_x, val_y = split.train_x, split.train_y, split.val_x, split.val_y
    return Task(
        name=data.name,
        train_x=train_x,
        train_y=train_y,
        test_x=data.test_x,
        test_y=data.test_y,
        input_shape=tuple(data.input_shape),
        num_outputs=data.num_classes,
        kind="classification",
        val_x=val_x,
        val_y=val_y,
    )


def build_loop(
    config: cfg.RunConfig,
    task: Task,
    *,
    device: torch.device | None = None,
    run_dir: RunDirectory | None = None,
    reporter: Reporter | None = None,
    max_cycles: int | None = None,
    stream: Any = None,
) -> CompressionLoop:
    """The model, the method and the loop a config describes, ready to ``run()``."""
    device = device or torch.device("cpu")
    generator = torch.Generator().manual_seed(config.model.init_seed)
    model = build_model(config.model, task.input_shape, task.num_outputs, generator)
    method = METHOD_REGISTRY.get(config.method).build(config.params, config)
    check = getattr(method, "check_model", None)
    if check is not None:
        check(model)
    return CompressionLoop(
        model=model,
        method=method,
        task=task,
        train=config.train,
        device=device,
        run_dir=run_dir,
        reporter=reporter,
        max_cycles=max_cycles,
        seed=config.model.init_seed,
        stream=stream,
    )


@dataclass
class RunOutcome:
    run_dir: Path
    config: cfg.RunConfig
    result: LoopResult
    summary: dict[str, Any]


def config_payload(
    config: cfg.RunConfig, status: str, threads: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "format": RUN_FORMAT,
        "method": config.method,
        "profile": config.profile,
        "status": status,
        "config": cfg.to_dict(config),
        "seeds": {
            "init_seed": config.model.init_seed,
            "data_seed": config.train.data_seed,
            "split_seed": config.data.split_seed,
            "method_seed": getattr(config.params, "seed", None),
        },
        "provenance": {**provenance(), "threads": threads, "thread_pools": thread_report()},
    }


def load_run_config(run_dir: Path) -> cfg.RunConfig:
    payload = RunDirectory(run_dir).read_config()
    if payload.get("format") != RUN_FORMAT:
        raise RecordError(f"{run_dir / schema.CONFIG_FILE}: not a tomoprune run config.")
    return cfg.from_dict(payload["config"])


def run_experiment(
    config: cfg.RunConfig | None,
    out_dir: str | Path,
    *,
    resume: bool = False,
    reporter: Reporter | None = None,
    max_cycles: int | None = None,
) -> RunOutcome:
    """Run (or, with ``resume``, continue) one experiment into ``out_dir``."""
    out = Path(out_dir)
    run_dir = RunDirectory(out)
    if resume:
        config = load_run_config(out)
    else:
        if config is None:
            raise ConfigError("no configuration given")
        if (out / schema.CONFIG_FILE).exists():
            raise ConfigError(
                f"{out} already holds a run; pass --resume {out} to continue it, or choose "
                "another --out."
            )
    assert config is not None
    threads = configure_threads()
    device = resolve_device(config.device)
    task = make_task(config).to(device)
    loop = build_loop(
        config, task, device=device, run_dir=run_dir, reporter=reporter, max_cycles=max_cycles
    )
    if resume:
        state = run_dir.load_checkpoint()
        if state is None:
            raise RecordError(f"{out}: no checkpoint to resume from; start the run again.")
        loop.load_state_dict(state)
    else:
        out.mkdir(parents=True, exist_ok=True)
    run_dir.write_config(config_payload(config, "running", threads))
    accounting = run_dir.read_accounting() or {}
    if "before" not in accounting and loop.cycle == 0:
        accounting["before"] = account(loop.model, task.input_shape).as_dict()
        run_dir.write_accounting(accounting)
    started = time.perf_counter()
    with solver_threads():
        result = loop.run()
    finished = bool(result.rows) and loop.method.finished(result.model, loop.cycle)
    run_dir.save_model(result.model)
    if METHOD_REGISTRY.get(config.method).family == "l0":  # honest storage of sparse weights
        write_sparse_export(result.model, out / SPARSE_EXPORT_FILE)
    summary = summarize(config, result, time.perf_counter() - started, finished)
    accounting["after"] = account(result.model, task.input_shape).as_dict()
    run_dir.write_accounting(accounting)
    if "before" in accounting:
        summary.update(
            summary_columns(Accounting(**accounting["before"]), Accounting(**accounting["after"]))
        )
    run_dir.write_summary(summary)
    run_dir.write_config(config_payload(config, "finished" if finished else "stopped", threads))
    return RunOutcome(run_dir=out, config=config, result=result, summary=summary)


def summarize(
    config: cfg.RunConfig, result: LoopResult, seconds: float, finished: bool
) -> dict[str, Any]:
    rows = result.rows
    last = rows[-1] if rows else {}
    return {
        "method": config.method,
        "profile": config.profile,
        "dataset": config.data.dataset,
        "cycles": len(rows),
        "finished": finished,
        "final_width": last.get("width"),
        "final_sparsity": last.get("sparsity"),
        "final_test_accuracy": last.get("test_accuracy"),
        "best_test_accuracy": max(
            (r["test_accuracy"] for r in rows if r["test_accuracy"] is not None), default=None
        ),
        "parameters": last.get("parameters"),
        "nonzero_parameters": last.get("nonzero_parameters"),
        "train_seconds": sum(r["train_seconds"] for r in rows),
        "prune_seconds": sum(r["prune_seconds"] for r in rows),
        "wall_seconds_this_session": seconds,
    }
