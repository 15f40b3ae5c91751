"""Teacher-student regression: does l0 regularisation help when data are scarce?

A fixed random *teacher* MLP (widths 2-5-8-1) labels Gaussian inputs; a larger *student*
(2-25-25-1) learns from ``n`` labelled samples (30, 300 and 2,000 in the paper). For every data
size and seed the student is trained twice through the same l0 method and the same
train-compress loop: once *regularised* (the method's ``alpha``) and once *unregularised*
(``alpha = 0``; the identical pipeline of plateau-stopped training, TAMADE thresholding and
masked fine-tuning, so the only difference is the sparsity term). The result table gives the
test loss (mean squared error on ``test_size`` fresh samples; compare with the targets' variance, the
loss of predicting their mean) and the compression of each.

Data: inputs ``x ~ N(0, I_2)``, targets ``y = teacher(x) + noise_std * N(0, 1)``; of the ``n``
samples, ``validation_fraction`` are held out for the plateau test and TAMADE. The teacher's
weights are drawn ``N(0, 2 / fan_in)`` (He scaling, so signals neither die nor explode through
the ReLUs) and its biases ``N(0, 0.1^2)``; the student starts from PyTorch's default
initialisation. All randomness comes from generators seeded by ``teacher_seed`` and the run seed.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from tomoprune import config as cfg
from tomoprune.data.task import Task
from tomoprune.engine.compress import CompressionLoop
from tomoprune.fileio import atomic_write_csv, atomic_write_json, read_json
from tomoprune.methods import METHOD_REGISTRY
from tomoprune.methods.l0.settings import L0Params
from tomoprune.models.lenet import init_layer_
from tomoprune.records import schema
from tomoprune.records.reader import load_run
from tomoprune.records.writer import RunRecorder, build_header, clear, run_status
from tomoprune.runs.runner import RunInterrupted

RESULTS_FILE = "teacher_student.csv"
CONFIG_FILE = "teacher_student.json"
RESULT_COLUMNS = (
    "size",
    "seed",
    "setting",
    "method",
    "alpha",
    "train_samples",
    "validation_samples",
    "test_target_variance",
    "test_loss",
    "test_loss_after_threshold",
    "parameters",
    "nonzero_parameters",
    "compression_ratio",
    "threshold",
    "train_steps",
    "seconds",
)


@dataclass(frozen=True, kw_only=True)
class TeacherStudentConfig:
    """What the experiment varies and holds fixed."""

    teacher_widths: tuple[int, ...] = (2, 5, 8, 1)
    student_widths: tuple[int, ...] = (2, 25, 25, 1)
    activation: Literal["relu", "tanh"] = "relu"
    sizes: tuple[int, ...] = (30, 300, 2000)  # labelled samples (training + validation)
    seeds: tuple[int, ...] = (0, 1, 2)  # a claim about the method is a claim over seeds
    teacher_seed: int = 1234
    test_size: int = 10000
    validation_fraction: float = 0.2
    noise_std: float = 0.0
    method: str = "drr"
    # overrides of the method's params for the regularised run, e.g. (("alpha", 1e-3),)
    method_settings: tuple[tuple[str, Any], ...] = (
        ("alpha", 1e-3),
        ("eval_every", 20),
        ("patience", 10),
        ("regularised_max_steps", 20000),
        ("finetune_max_steps", 10000),
    )
    batch_size: int = 500  # capped at the training-set size (full batch for small sets)
    lr: float = 1e-3


def mlp(widths: tuple[int, ...], activation: str) -> nn.Sequential:
    """Linear layers of ``widths`` with ``activation`` between them (none after the last)."""
    act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(widths) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def make_teacher(
    widths: tuple[int, ...], activation: str, generator: torch.Generator
) -> nn.Sequential:
    """The fixed teacher: He-scaled Gaussian weights, small Gaussian biases, no gradients."""
    teacher = mlp(widths, activation)
    with torch.no_grad():
        for layer in teacher:
            if isinstance(layer, nn.Linear):
                std = (2.0 / layer.in_features) ** 0.5
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator) * 0.1)
    return teacher.requires_grad_(False)


def make_student(
    widths: tuple[int, ...], activation: str, generator: torch.Generator
) -> nn.Sequential:
    student = mlp(widths, activation)
    for layer in student:
        if isinstance(layer, nn.Linear):
            init_layer_(layer, generator)
    return student


@torch.no_grad()
def teacher_task(
    teacher: nn.Sequential,
    size: int,
    *,
    test_size: int,
    validation_fraction: float,
    noise_std: float,
    generator: torch.Generator,
) -> Task:
    """``size`` labelled samples split into training and validation, plus a test set."""
    dim = teacher[0].in_features

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, dim, generator=generator)
        y = teacher(x).reshape(n) + noise_std * torch.randn(n, generator=generator)
        return x, y

    n_val = max(1, round(validation_fraction * size))
    if n_val >= size:
        raise ValueError(f"size {size} leaves no training samples after validation")
    x, y = sample(size)
    test_x, test_y = sample(test_size)
    return Task(
        name=f"teacher-student-{size}",
        train_x=x[n_val:],
        train_y=y[n_val:],
        val_x=x[:n_val],
        val_y=y[:n_val],
        test_x=test_x,
        test_y=test_y,
        input_shape=(dim,),
        num_outputs=1,
        kind="regression",
    )


def method_params(config: TeacherStudentConfig) -> L0Params:
    """The regularised run's params: the method's defaults plus ``method_settings``."""
    spec = METHOD_REGISTRY.get(config.method)
    overrides = {f"method.{key}": value for key, value in config.method_settings}
    params = cfg.apply_overrides(
        cfg.RunConfig(method=config.method, params=spec.params_type()), overrides
    ).params
    return params


def run_header(
    config: TeacherStudentConfig,
    params: L0Params,
    train: cfg.TrainConfig,
    size: int,
    setting: str,
    seed: int,
) -> dict[str, Any]:
    """``config.json`` of one student's run: everything that determines its numbers."""
    return build_header(
        method=config.method,
        profile="teacher-student",
        config={
            "method": config.method,
            "experiment": "teacher-student",
            "setting": setting,
            "size": size,
            "seed": seed,
            "data": {"dataset": f"teacher-student-{size}"},
            "teacher_student": dataclasses.asdict(config),
            "train": dataclasses.asdict(train),
            "params": dataclasses.asdict(params),
        },
        seeds={"init_seed": seed, "data_seed": seed, "teacher_seed": config.teacher_seed},
    )


def run_one(
    config: TeacherStudentConfig,
    task: Task,
    params: L0Params,
    seed: int,
    run_dir: Path | None,
    *,
    setting: str = "regularised",
) -> dict[str, Any]:
    """Train one student through the loop; returns its result-table row.

    With ``run_dir`` the run is recorded by the run record writer (so ``tomoprune analyze``
    reads it); a finished run of the same settings found there is reused, an unfinished one
    continued from its last finished cycle.
    """
    train = cfg.TrainConfig(
        batch_size=min(config.batch_size, task.train_x.shape[0]),
        lr=config.lr,
        eval_batch_size=max(config.test_size, 1),
        data_seed=seed,
    )
    header = run_header(
        config, params, train, int(task.train_x.shape[0] + task.val_x.shape[0]), setting, seed
    )
    recorder, state = None, None
    if run_dir is not None:
        status = run_status(run_dir)
        saved = None if status is None else _saved_config(run_dir)
        if status is not None and saved != json.loads(json.dumps(header["config"])):
            clear(run_dir)  # other settings: these records do not belong to this experiment
            status = None
        if status == "finished":
            return _row_from_records(run_dir)
        recorder = RunRecorder(run_dir, header)
        state = recorder.checkpoint() if status is not None else None
    student = make_student(
        config.student_widths, config.activation, torch.Generator().manual_seed(seed)
    )
    method = METHOD_REGISTRY.get(config.method).build(params, None)
    loop = CompressionLoop(
        model=student,
        method=method,
        task=task,
        train=train,
        device=torch.device("cpu"),
        recorder=recorder,
        seed=seed,
    )
    if state is not None:
        loop.load_state_dict(state)
    started = time.perf_counter()
    try:
        result = loop.run()
    except KeyboardInterrupt:
        if run_dir is None:
            raise
        raise RunInterrupted(Path(run_dir), loop.cycle) from None
    return _row(result.rows, time.perf_counter() - started)


def _saved_config(run_dir: Path) -> Any:
    return read_json(Path(run_dir) / schema.CONFIG_FILE).get("config")


def _row(rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    first, last = rows[0], rows[-1]
    return {
        "test_loss": last["test_loss"],
        "test_loss_after_threshold": first["test_loss"],
        "parameters": last["initial_parameters"],
        "nonzero_parameters": last["nonzero_parameters"],
        "compression_ratio": last["compression_ratio"],
        "threshold": last["threshold"],
        "train_steps": sum(row["train_steps"] for row in rows),
        "seconds": seconds,
    }


def _row_from_records(run_dir: Path) -> dict[str, Any]:
    """The result row of a finished run, read back from its cycles.csv."""
    columns = ("test_loss", "initial_parameters", "nonzero_parameters", "compression_ratio")
    columns += ("threshold", "train_steps", "train_seconds", "prune_seconds")
    rows = [
        {key: None if row.get(key) is None else float(row[key]) for key in columns}
        for row in load_run(run_dir).rows
    ]
    row = _row(
        rows, sum((r.get("train_seconds") or 0) + (r.get("prune_seconds") or 0) for r in rows)
    )
    for key in ("parameters", "nonzero_parameters", "train_steps"):
        row[key] = int(row[key])
    return row


def run_teacher_student(
    config: TeacherStudentConfig, out_dir: str | Path | None = None
) -> list[dict[str, Any]]:
    """Every (size, seed, regularised/unregularised) student; rows as in ``RESULT_COLUMNS``.

    With ``out_dir`` each run keeps its records in ``out_dir/<size>-<setting>-seed<seed>/`` and
    the table is written to ``teacher_student.csv`` beside ``teacher_student.json`` (the config).
    """
    out = None if out_dir is None else Path(out_dir)
    regularised = method_params(config)
    settings = {"regularised": regularised, "unregularised": replace(regularised, alpha=0.0)}
    teacher = make_teacher(
        config.teacher_widths, config.activation, torch.Generator().manual_seed(config.teacher_seed)
    )
    if out is not None:
        atomic_write_json(
            out / CONFIG_FILE,
            {
                "experiment": dataclasses.asdict(config),
                "params": {name: dataclasses.asdict(p) for name, p in settings.items()},
            },
        )
    rows: list[dict[str, Any]] = []
    for size in config.sizes:
        for seed in config.seeds:
            data_generator = torch.Generator().manual_seed(
                int(np.random.SeedSequence([config.teacher_seed, size, seed]).generate_state(1)[0])
            )
            task = teacher_task(
                teacher,
                size,
                test_size=config.test_size,
                validation_fraction=config.validation_fraction,
                noise_std=config.noise_std,
                generator=data_generator,
            )
            for setting, params in settings.items():
                run_dir = None if out is None else out / f"{size}-{setting}-seed{seed}"
                row = {
                    "size": size,
                    "seed": seed,
                    "setting": setting,
                    "method": config.method,
                    "alpha": params.alpha,
                    "train_samples": int(task.train_x.shape[0]),
                    "validation_samples": int(task.val_x.shape[0]),
                    "test_target_variance": float(task.test_y.var()),
                    **run_one(config, task, params, seed, run_dir, setting=setting),
                }
                rows.append(row)
                if out is not None:
                    atomic_write_csv(out / RESULTS_FILE, RESULT_COLUMNS, rows)
    return rows
