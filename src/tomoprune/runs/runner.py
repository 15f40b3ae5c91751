"""From a RunConfig to a finished run directory: data, model, method, loop, records."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tomoprune import config as cfg
from tomoprune.accounting import Accounting, account, latency_columns, summary_columns
from tomoprune.data.datasets import load_dataset, train_validation_split
from tomoprune.data.task import Task
from tomoprune.engine.compress import CompressionLoop, LoopResult
from tomoprune.engine.progress import Reporter
from tomoprune.errors import ConfigError, RecordError
from tomoprune.fileio import read_json
from tomoprune.methods import METHOD_REGISTRY
from tomoprune.methods.greedy.layers import check_supported
from tomoprune.methods.greedy.metrics import normalised_error, scale_constants
from tomoprune.models import build_model, check_model_fits
from tomoprune.records import schema
from tomoprune.records.reader import load_run
from tomoprune.records.run_dir import RunDirectory
from tomoprune.records.writer import RUN_FORMAT, RunRecorder, build_header, clear, run_status
from tomoprune.runs.resolve import from_dict, resolve_run_config
from tomoprune.runtime import configure_threads, solver_threads
from tomoprune.structure.saved import write_removal


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
    held_out = config.data.validation_size or round(
        config.data.validation_fraction * len(data.train_y)
    )
    if held_out:
        split = train_validation_split(
            data,
            held_out,
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
        kind=data.kind,
        val_x=val_x,
        val_y=val_y,
    )


def build_loop(
    config: cfg.RunConfig,
    task: Task,
    *,
    device: torch.device | None = None,
    recorder: RunRecorder | None = None,
    reporter: Reporter | None = None,
    max_cycles: int | None = None,
    stream: Any = None,
    run_dir: RunDirectory | None = None,
) -> CompressionLoop:
    """The model, the method and the loop a config describes, ready to ``run()``.

    ``run_dir`` (without ``recorder``) records into that directory with this config's header.
    """
    if recorder is None and run_dir is not None:
        recorder = RunRecorder(run_dir.path, config_header(config))
    device = device or torch.device("cpu")
    generator = torch.Generator().manual_seed(config.model.init_seed)
    spec = METHOD_REGISTRY.get(config.method)
    if spec.family == "post-training":
        raise ConfigError(
            f"{config.method} compresses a trained model and never trains; use `tomoprune "
            f"compress --from RUN_DIR --method {config.method}`."
        )
    check_model_fits(config.model, task.input_shape, task.num_outputs)  # before allocating
    model = build_model(config.model, task.input_shape, task.num_outputs, generator)
    method = spec.build(config.params, config)
    measure = None
    if config.train.cycle_latency and task.kind != "language-model":
        measure = functools.partial(latency_columns, input_shape=task.input_shape)
    loop = CompressionLoop(
        model=model,
        method=method,
        task=task,
        train=config.train,
        device=device,
        recorder=recorder,
        reporter=reporter,
        max_cycles=max_cycles,
        seed=config.model.init_seed,
        stream=stream,
        measure=measure,
    )
    method.check_model(loop.model)
    return loop


@dataclass
class RunOutcome:
    """What ``run_experiment`` did: ``state`` is "started", "resumed" or "reused" (a finished
    run found in the directory, nothing computed); ``rows`` are its cycle records."""

    run_dir: Path
    config: cfg.RunConfig
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    state: str
    result: LoopResult | None = None


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: its finished cycles are saved in ``run_dir``."""

    def __init__(self, run_dir: Path, cycles: int) -> None:
        super().__init__(str(run_dir))
        self.run_dir = run_dir
        self.cycles = cycles


def config_header(config: cfg.RunConfig, threads: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``config.json`` body of a run of ``config`` (the writer adds its status)."""
    return build_header(
        method=config.method,
        profile=config.profile,
        config=cfg.to_dict(config),
        seeds={
            "seed": config.seed,
            "init_seed": config.model.init_seed,
            "data_seed": config.train.data_seed,
            "split_seed": config.data.split_seed,
            "method_seed": getattr(config.params, "seed", None),
        },
        threads=threads,
    )


def load_run_config(run_dir: Path) -> cfg.RunConfig:
    payload = RunDirectory(run_dir).read_config()
    if payload.get("format") != RUN_FORMAT or "config" not in payload:
        raise RecordError(
            f"{run_dir / schema.CONFIG_FILE}: not a tomoprune run config; pass --overwrite to "
            "start a new run there, or choose another --out."
        )
    return from_dict(payload["config"])


def canonical_settings(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved config's dotted settings, with settings added since it was written filled in
    with their defaults (every new setting's default keeps the old behaviour)."""
    with contextlib.suppress(ConfigError):  # written by another version: compare as it is
        saved = cfg.to_dict(from_dict(saved))
    return cfg.flatten(json.loads(json.dumps(saved)))


def check_same_config(run_dir: Path, config: cfg.RunConfig) -> None:
    """Refuse to reuse or resume a run made with different settings."""
    saved = canonical_settings(read_json(run_dir / schema.CONFIG_FILE).get("config") or {})
    wanted = cfg.flatten(json.loads(json.dumps(cfg.to_dict(config))))
    ignored = {"data.data_dir"}  # where the files live does not change the numbers
    changed = sorted(
        key for key in (set(saved) | set(wanted)) - ignored if saved.get(key) != wanted.get(key)
    )
    if changed:
        raise ConfigError(
            f"{run_dir} holds a run with other settings ({', '.join(changed[:4])}); pass "
            "--overwrite to replace it, or choose another --out."
        )


def _existing_status(out: Path) -> str | None:
    try:
        return run_status(out)
    except RecordError as exc:
        raise RecordError(f"{exc} Pass --overwrite to start the run afresh.") from None


def _reused(out: Path, config: cfg.RunConfig) -> RunOutcome:
    record = load_run(out)
    if record.summary is None:
        raise RecordError(
            f"{out}: the run is finished but has no {schema.SUMMARY_FILE}; pass --overwrite to "
            "start it afresh."
        )
    return RunOutcome(
        run_dir=out, config=config, rows=list(record.rows), summary=record.summary, state="reused"
    )


def run_experiment(
    config: cfg.RunConfig | None,
    out_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    reporter: Reporter | None = None,
    max_cycles: int | None = None,
    threads: int | None = None,
) -> RunOutcome:
    """Run ``config`` into ``out_dir``, picking up whatever is already there.

    A directory with no run starts one; a finished run of the same config is reused (nothing is
    computed); an unfinished one (stopped, interrupted or failed, 0 finished cycles included)
    continues from its last finished cycle. A run with other settings is refused unless
    ``overwrite``, which removes its records first. With ``resume`` the config is read from
    the directory's ``config.json``.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(
            f"The '--out' option must name a directory; {out} is a file. Choose another --out."
        )
    if max_cycles is not None and max_cycles < 1:
        raise ConfigError(
            f"The '--max-cycles' option must be at least 1. Got {max_cycles} instead."
        )
    if overwrite and not resume:
        clear(out)
    status = _existing_status(out)
    if resume:
        if status is None:
            raise RecordError(
                f"{out}: no run to resume (no {schema.CONFIG_FILE}); start one with --out {out}."
            )
        config = load_run_config(out)
    elif config is None:
        raise ConfigError("no configuration given")
    elif status is not None:
        check_same_config(out, config)
    assert config is not None
    if status == "finished":
        return _reused(out, config)
    thread_info = configure_threads(threads)
    device = resolve_device(config.device)
    task = make_task(config).to(device)
    recorder = RunRecorder(out, config_header(config, thread_info))
    loop = build_loop(
        config, task, device=device, recorder=recorder, reporter=reporter, max_cycles=max_cycles
    )
    state = recorder.checkpoint() if status is not None else None
    if state is not None:
        loop.load_state_dict(state)
    accounting = recorder.directory.read_accounting() or {}
    if "before" not in accounting and loop.cycle == 0:
        accounting["before"] = account(loop.model, task.input_shape).as_dict()
        recorder.directory.write_accounting(accounting)
    with solver_threads():
        try:
            result = loop.run()
        except KeyboardInterrupt:
            raise RunInterrupted(out, loop.cycle) from None
    assert result.summary is not None
    if result.rows:  # the model as it stands: its removal record and its cost
        write_removal(  # reload = build the model below + apply the removal + load the weights
            out,
            loop.removal_record,
            architecture={
                "model": dataclasses.asdict(config.model),
                "input_shape": list(task.input_shape),
                "num_outputs": task.num_outputs,
            },
        )
        accounting["after"] = account(result.model, task.input_shape).as_dict()
        recorder.directory.write_accounting(accounting)
        if "before" in accounting:
            result.summary.update(
                summary_columns(
                    Accounting(**accounting["before"]), Accounting(**accounting["after"])
                )
            )
            recorder.directory.write_summary(result.summary)
    if result.status == "finished":
        loop.method.write_exports(result.model, out)
    return RunOutcome(
        run_dir=out,
        config=config,
        rows=result.rows,
        summary=result.summary,
        state="resumed" if state is not None else "started",
        result=result,
    )


def _is_hf_folder(source: Path) -> bool:
    """A folder written by transformers' save_pretrained (its config.json names a model_type)."""
    try:
        payload = json.loads((source / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(payload, dict) and "model_type" in payload


def post_training_config(
    method: str,
    source: Path,
    overrides: dict[str, Any],
    *,
    dataset: str | None = None,
    data_dir: str | None = None,
) -> tuple[cfg.RunConfig, dict[str, Any]]:
    """The config of a post-training run on the model of ``source``, and what to record of it.

    ``source`` is a finished run directory (its data, model and evaluation settings are kept)
    or a folder holding only a saved model (model.safetensors + model.json), in which case
    ``dataset`` names the calibration and test data.
    """
    source_dir = RunDirectory(source)
    if not (source / schema.MODEL_SPEC_FILE).is_file() and _is_hf_folder(source):
        raise ConfigError(
            f"{source} is a Hugging Face save_pretrained folder, not a tomoprune run; compress "
            "it with the Python API tomoprune.posttraining.compress_ (docs/guide/post-training.md)."
        )
    if (
        not (source / schema.MODEL_FILE).is_file()
        or not (source / schema.MODEL_SPEC_FILE).is_file()
    ):
        raise ConfigError(
            f"{source}: no trained model there ({schema.MODEL_FILE} and {schema.MODEL_SPEC_FILE}); "
            "pass a finished run directory or a saved model's folder to --from."
        )
    inherited: dict[str, Any] = {}
    profile = "corrected"
    recorded: dict[str, Any] = {"path": str(source.resolve())}
    if (source / schema.CONFIG_FILE).is_file():
        payload = source_dir.read_config()
        if payload.get("format") != RUN_FORMAT:
            raise RecordError(f"{source / schema.CONFIG_FILE}: not a tomoprune run config.")
        saved = dict(payload["config"])
        profile = saved.get("profile", "corrected")
        for key in ("method", "profile", "params"):
            saved.pop(key, None)
        inherited = cfg.flatten(saved)
        recorded.update(
            {
                "method": payload.get("method"),
                "status": payload.get("status"),
                "seeds": payload.get("seeds"),
                "git": (payload.get("provenance") or {}).get("git"),
            }
        )
    elif dataset is None:
        raise ConfigError(
            f"{source} holds a model but no run config; name the calibration data with --dataset."
        )
    if dataset is not None:
        inherited["data.dataset"] = dataset
    if data_dir is not None:
        inherited["data.data_dir"] = data_dir
    config = resolve_run_config(method, profile=profile, overrides={**inherited, **overrides})
    if METHOD_REGISTRY.get(method).family != "post-training":
        raise ConfigError(
            f"{method!r} trains while it compresses; use `tomoprune run --method {method}`. "
            "Post-training methods: "
            + ", ".join(
                n
                for n in METHOD_REGISTRY.names()
                if METHOD_REGISTRY.get(n).family == "post-training"
            )
            + "."
        )
    return config, recorded


def run_post_training(
    config: cfg.RunConfig,
    source: Path,
    recorded_source: dict[str, Any],
    out_dir: str | Path,
    *,
    reporter: Reporter | None = None,
) -> RunOutcome:
    """Compress the trained model of ``source`` once (no training) into run directory ``out``.

    The run directory has the usual records (config.json with ``source``, cycles.csv with the
    one compress cycle, summary.json, the model) plus the honest-storage export.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(
            f"The '--out' option must name a directory; {out} is a file. Choose another --out."
        )
    if (out / schema.CONFIG_FILE).exists():
        raise ConfigError(f"{out} already holds a run; choose another --out.")
    threads = configure_threads()
    device = resolve_device(config.device)
    task = make_task(config).to(device)
    model = check_supported(RunDirectory(source).load_model(device))
    dense = copy.deepcopy(model)  # the uncompressed reference for Delta and the summary
    method = METHOD_REGISTRY.get(config.method).build(config.params, config)
    method.preflight(model)  # a refused setting leaves no run directory
    recorder = RunRecorder(out, {**config_header(config, threads), "source": recorded_source})
    loop = CompressionLoop(
        model=model,
        method=method,
        task=task,
        train=config.train,
        device=device,
        recorder=recorder,
        reporter=reporter,
        max_cycles=1,
        seed=getattr(config.params, "seed", 0),
    )
    dense_eval = loop._evaluate(task.test_x, task.test_y)
    result = loop.run()
    assert result.summary is not None
    storage = method.export(result.model, out)
    error = normalised_error(dense, result.model, task.test_x, task.kind)
    summary = result.summary
    summary.update(
        {
            "source_run": str(source),
            "dense_test_accuracy": dense_eval.accuracy,
            "dense_test_loss": dense_eval.loss,
            **error,
            **scale_constants(dense),
            **storage,
            "layers": method.layers,
        }
    )
    recorder.directory.write_summary(summary)
    return RunOutcome(
        run_dir=out,
        config=config,
        rows=result.rows,
        summary=summary,
        state="started",
        result=result,
    )
