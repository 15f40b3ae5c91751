"""Reproduce the l0 paper's comparison: dense baseline, DRR, PMMP and R-L1 side by side.

``run_methods`` runs each method on MNIST (LeNet-300-100 by default, the paper's 45k / 5k / 10k
split, batch 500, Adam 1e-3; each into ``OUT/runs/<method>/``; a finished run is reused, an
interrupted one resumed). ``write_l0_table`` then reads the records only and writes
``l0_table.csv`` and ``l0_table.md``: per method the final test accuracy, its drop against the
dense baseline in percentage points, the compression ratio ``CR = parameters / non-zero``, the
storage in bytes (CSR and dense float32) and what the run cost (steps, epochs, seconds). Every
run directory also gets the CSR export ``model.sparse.safetensors`` of its final model.

``run_teacher_student_figure`` runs the teacher-student experiment and draws its test loss
against the data size, regularised vs unregularised.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import numpy as np
from matplotlib.ticker import NullLocator

from tomoprune import config as cfg
from tomoprune.data.datasets import load_dataset
from tomoprune.engine.progress import Reporter
from tomoprune.errors import ConfigError
from tomoprune.experiments.teacher_student import (
    RESULTS_FILE,
    TeacherStudentConfig,
    run_teacher_student,
)
from tomoprune.fileio import atomic_write_csv, atomic_write_text, read_csv
from tomoprune.methods.l0.sparse_export import SPARSE_EXPORT_FILE, write_sparse_export
from tomoprune.plots.common import color, new_figure, save_png
from tomoprune.records.reader import load_run
from tomoprune.records.run_dir import RunDirectory
from tomoprune.records.tables import format_cell, markdown_table
from tomoprune.records.writer import run_status
from tomoprune.runs.resolve import resolve_run_config
from tomoprune.sweeps.execute import RunOutcome
from tomoprune.sweeps.runner import SweepResult, execute_runs
from tomoprune.sweeps.spec import RunSpec

METHODS = ("dense", "drr", "pmmp", "rl1")
MODELS = ("lenet300", "lenet5")
BASELINE = "dense"
# per-model run settings: a conv net's 5,000-sample validation pass is faster in batches of 500
# (less memory traffic; benchmarks/bench_lenet5_step.py measures both), and the plateau rule
# measures one every 100 steps; the MLP keeps its recorded settings
MODEL_SETTINGS: dict[str, dict[str, Any]] = {
    "lenet300": {},
    "lenet5": {"train.eval_batch_size": 500},
}
TABLE_CSV = "l0_table.csv"
TABLE_MD = "l0_table.md"
TEACHER_STUDENT_FIGURE = "teacher_student.png"
TEACHER_STUDENT_SUMMARY = "teacher_student.md"
# What the l0 paper's teacher-student experiment is there to show (its claim, qualitative: the
# shared reference holds no printed numbers for it): with few labelled samples the
# l0-regularised student generalises better than the unregularised one, and the advantage
# shrinks as the data grow.
TEACHER_STUDENT_EXPECTATION = (
    "l0-regularised student below the unregularised one in test loss when data are scarce "
    "(30, 300 samples); the gap shrinks with more data (2,000)"
)

# the acceptance for DRR on LeNet-300-100: CR >= 50 at <= 0.5 pp below the dense baseline
ACCEPT_MODEL = "lenet300"
ACCEPT_METHOD = "drr"
ACCEPT_MIN_CR = 50.0
ACCEPT_MAX_DROP_PP = 0.5

TABLE_COLUMNS = (
    "method",
    "test_accuracy",
    "accuracy_drop_pp",  # (baseline accuracy - accuracy) * 100
    "compression_ratio",  # parameters / nnz
    "pruned_fraction",  # 1 - nnz / parameters
    "nnz",
    "parameters",  # of the network before compression
    "threshold",  # TAMADE's threshold (none for the baseline)
    "regularised_steps",
    "finetune_steps",
    "train_steps",  # all training steps (warm-up, regularised or plain, fine-tuning)
    "epochs",  # train_steps * batch_size / training samples
    "wall_seconds",  # training plus compression time, summed over the run's cycles
    "csr_bytes",  # final parameters as CSR: float32 values, int32 indices and row pointers
    "dense_bytes",  # the uncompressed network as dense float32
)


# the paper's MNIST split: 45,000 training, 5,000 validation (10,000 unused), seed 0
PAPER_SPLIT = {"data.validation_size": 5000, "data.train_size": 45000, "data.split_seed": 0}


def parse_methods(text: str | None) -> tuple[str, ...]:
    """``"dense,drr"`` -> ``("dense", "drr")``; unknown or l0-foreign names are rejected."""
    if not text:
        return METHODS
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in METHODS]
    if unknown or not names:
        raise ConfigError(
            f"The '--methods' option must list some of {', '.join(METHODS)}. Got {text!r} instead."
        )
    return tuple(dict.fromkeys(names))


def l0_configs(
    data_dir: str | None,
    *,
    methods: Sequence[str] = METHODS,
    model: str = "lenet300",
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, cfg.RunConfig]:
    """One resolved run config per method: MNIST, ``model``, the method's run defaults."""
    if model not in MODELS:
        raise ConfigError(
            f"The '--model' option must be one of {', '.join(MODELS)}. Got {model!r} instead."
        )
    base: dict[str, Any] = {
        "data.dataset": "mnist",
        **PAPER_SPLIT,
        "model.name": model,
        **MODEL_SETTINGS[model],
    }
    if data_dir is not None:
        base["data.data_dir"] = str(data_dir)
    return {
        method: resolve_run_config(
            method, base=base, overrides=_applicable(method, dict(overrides or {}))
        )
        for method in methods
    }


def _applicable(method: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The overrides without the ``method.*`` settings this method does not have (a setting
    given for the whole table, e.g. PMMP's, applies to the methods that have it)."""
    from tomoprune.methods import METHOD_REGISTRY

    known = {f.name for f in dataclasses.fields(METHOD_REGISTRY.get(method).params_type)}
    return {
        key: value
        for key, value in overrides.items()
        if not key.startswith("method.") or key.removeprefix("method.") in known
    }


def run_methods(
    data_dir: str | None,
    out_dir: Path,
    *,
    methods: Sequence[str] = METHODS,
    model: str = "lenet300",
    overrides: Mapping[str, Any] | None = None,
    reporter_factory: Callable[[], Reporter] = Reporter,
    on_done: Callable[[RunOutcome], None] = lambda outcome: None,
    backend: str = "inline",
    workers: int | None = None,
    address: str | None = None,
) -> tuple[dict[str, Path], SweepResult]:
    """Run (or reuse, or resume) each method under ``out_dir/runs`` through the sweep executor
    and export each finished model; returns method -> run directory of the runs that finished,
    and the executor's result (its failures: the runs that did not)."""
    configs = l0_configs(data_dir, methods=methods, model=model, overrides=overrides)
    runs = [
        RunSpec(name=method, axes={"method": method, "seed": config.seed}, config=config)
        for method, config in configs.items()
    ]
    result = execute_runs(
        runs,
        out_dir / "runs",
        state_dir=out_dir,
        backend=backend,
        workers=workers,
        address=address,
        torch_threads=None,  # the thread default (the cores, or $OMP_NUM_THREADS)
        on_done=on_done,
        reporter_factory=reporter_factory,
    )
    run_dirs = {
        method: out_dir / "runs" / method
        for method in configs
        if run_status(out_dir / "runs" / method) == "finished"
    }
    for run_dir in run_dirs.values():
        ensure_sparse_export(run_dir)
    return run_dirs, result


def ensure_sparse_export(run_dir: Path) -> Path:
    """``run_dir/model.sparse.safetensors`` from the run's final model (written once)."""
    path = run_dir / SPARSE_EXPORT_FILE
    if not path.is_file():
        write_sparse_export(RunDirectory(run_dir).load_model(), path)
    return path


def training_samples(config: Mapping[str, Any]) -> int:
    """Training samples of a run, from its config (the dataset is read only when needed)."""
    data = config["data"]
    if data.get("train_size"):
        return int(data["train_size"])
    n = len(load_dataset(data["dataset"], data.get("data_dir")).train_y)
    held_out = int(data.get("validation_size") or 0) or round(
        float(data.get("validation_fraction") or 0.0) * n
    )
    return n - held_out


def _number(value: Any) -> float | None:
    return None if value in ("", None) else float(value)


def method_row(method: str, run_dir: Path) -> dict[str, Any]:
    """The table row of one finished run, read from its records."""
    record = load_run(run_dir, finished=True)
    payload, cycles, phases = record.config, record.rows, record.phases
    last = cycles[-1]
    steps: dict[str, int] = {}
    for phase in phases:
        steps[phase["phase"]] = steps.get(phase["phase"], 0) + int(phase["steps"])
    train_steps = sum(steps.values())
    parameters = int(last["initial_parameters"])
    nnz = int(last["nonzero_parameters"])
    batch = int(payload["config"]["train"]["batch_size"])
    return {
        "method": method,
        "test_accuracy": float(last["test_accuracy"]),
        "accuracy_drop_pp": None,
        "compression_ratio": parameters / nnz if nnz else math.inf,
        "pruned_fraction": 1.0 - nnz / parameters,
        "nnz": nnz,
        "parameters": parameters,
        "threshold": _number(last.get("threshold")),
        "regularised_steps": steps.get("regularised", 0),
        "finetune_steps": steps.get("finetune", 0),
        "train_steps": train_steps,
        "epochs": train_steps * batch / training_samples(payload["config"]),
        "wall_seconds": sum(
            float(row["train_seconds"]) + float(row["prune_seconds"]) for row in cycles
        ),
        "csr_bytes": int(last["csr_bytes"]),
        "dense_bytes": int(last["initial_dense_float32_bytes"]),
    }


def table_rows(run_dirs: Mapping[str, Path]) -> list[dict[str, Any]]:
    """One row per method; accuracy drops are measured against ``dense`` when it ran."""
    rows = [method_row(method, run_dir) for method, run_dir in run_dirs.items()]
    baseline = next((row for row in rows if row["method"] == BASELINE), None)
    if baseline is not None:
        for row in rows:
            # rounded: accuracies are multiples of 1/test size, the float difference is not
            row["accuracy_drop_pp"] = round(
                100.0 * (baseline["test_accuracy"] - row["test_accuracy"]), 6
            )
    return rows


def acceptance(
    rows: Sequence[Mapping[str, Any]], model: str | None = ACCEPT_MODEL
) -> dict[str, Any] | None:
    """DRR's CR and accuracy drop against the thresholds (LeNet-300-100 only).

    None for another model, or without both DRR and the dense baseline.
    """
    if model not in (None, ACCEPT_MODEL):
        return None
    row = next((r for r in rows if r["method"] == ACCEPT_METHOD), None)
    if row is None or row["accuracy_drop_pp"] is None:
        return None
    return {
        "method": ACCEPT_METHOD,
        "compression_ratio": row["compression_ratio"],
        "accuracy_drop_pp": row["accuracy_drop_pp"],
        "passed": row["compression_ratio"] >= ACCEPT_MIN_CR
        and row["accuracy_drop_pp"] <= ACCEPT_MAX_DROP_PP,
    }


MARKDOWN_FORMAT = (
    ("method", "method", 0),
    ("test accuracy", "test_accuracy", 4),
    ("drop (pp)", "accuracy_drop_pp", 2),
    ("CR", "compression_ratio", 1),
    ("1 - nnz/total", "pruned_fraction", 4),
    ("nnz", "nnz", 0),
    ("parameters", "parameters", 0),
    ("threshold", "threshold", 5),
    ("regularised steps", "regularised_steps", 0),
    ("fine-tune steps", "finetune_steps", 0),
    ("epochs", "epochs", 1),
    ("seconds", "wall_seconds", 0),
    ("CSR bytes", "csr_bytes", 0),
    ("dense bytes", "dense_bytes", 0),
)


def markdown(rows: Sequence[Mapping[str, Any]], model: str | None = None) -> str:
    lines = [
        f"# l0 family on MNIST{f' ({model})' if model else ''}: accuracy and compression",
        "",
        "Test accuracy of the final model (after thresholding, fine-tuning and deletion of dead "
        "units); drop in percentage points against the unregularised `dense` baseline; "
        "CR = parameters / non-zero parameters; CSR bytes count float32 values, int32 column "
        "indices and row pointers.",
        "",
        markdown_table(
            [header for header, _, _ in MARKDOWN_FORMAT],
            [[format_cell(row[key], d) for _, key, d in MARKDOWN_FORMAT] for row in rows],
            align="l" + "r" * (len(MARKDOWN_FORMAT) - 1),
        ),
    ]
    check = acceptance(rows, model)
    if check is not None:
        lines += [
            "",
            "## Check",
            "",
            f"- {ACCEPT_METHOD}: CR {check['compression_ratio']:.1f} (needs >= {ACCEPT_MIN_CR:g}), "
            f"accuracy drop {check['accuracy_drop_pp']:.2f} pp (needs <= "
            f"{ACCEPT_MAX_DROP_PP:g}): {'passed' if check['passed'] else 'FAILED'}",
        ]
    return "\n".join(lines) + "\n"


def write_l0_table(
    out_dir: Path, run_dirs: Mapping[str, Path], *, model: str | None = None
) -> list[dict[str, Any]]:
    """Write ``l0_table.csv`` and ``l0_table.md`` from the runs' records; return the rows."""
    rows = table_rows(run_dirs)
    atomic_write_csv(out_dir / TABLE_CSV, list(TABLE_COLUMNS), rows)
    atomic_write_text(out_dir / TABLE_MD, markdown(rows, model))
    return rows


# -- teacher-student ----------------------------------------------------------------------------
_KIND = {int: "an integer", float: "a number", str: "a string"}


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    if get_origin(annotation) is tuple:
        items = value if isinstance(value, (list, tuple)) else str(value).split(",")
        inner = get_args(annotation)[0]
        return tuple(_coerce(item, inner, key) for item in items if str(item).strip())
    if get_origin(annotation) is Literal:
        literal = get_args(annotation)
        if value not in literal:
            raise ConfigError(
                f"The '{key}' setting must be one of {', '.join(literal)}. Got {value!r} instead."
            )
        return value
    try:
        return annotation(value) if annotation in (int, float, str) else value
    except (TypeError, ValueError):
        raise ConfigError(
            f"The '{key}' setting must be {_KIND[annotation]}. Got {value!r} instead."
        ) from None


def teacher_student_config(overrides: Mapping[str, Any] | None = None) -> TeacherStudentConfig:
    """The default experiment with dotted overrides.

    ``method.KEY`` keys change the l0 method's params of the regularised run (added to the
    default ``method_settings``); other keys name fields of ``TeacherStudentConfig``
    (tuples as comma-separated lists, e.g. ``sizes=30,300``).
    """
    config = TeacherStudentConfig()
    hints = get_type_hints(TeacherStudentConfig)
    names = [f.name for f in dataclasses.fields(TeacherStudentConfig)]
    settings = dict(config.method_settings)
    changes: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if key.startswith("method."):
            settings[key.removeprefix("method.")] = value
        elif key in names and key != "method_settings":
            changes[key] = _coerce(value, hints[key], key)
        else:
            raise ConfigError(
                f"Unknown setting '{key}'. Valid settings here: method.<l0 setting>, "
                f"{', '.join(n for n in names if n != 'method_settings')}."
            )
    config = dataclasses.replace(config, **changes, method_settings=tuple(settings.items()))
    validate_teacher_student(config)
    return config


def validate_teacher_student(config: TeacherStudentConfig) -> None:
    """Reject a teacher-student setting that cannot run, before anything is trained."""
    smallest = min(config.sizes, default=0)
    checks = [
        ("sizes", bool(config.sizes), "at least one data size", config.sizes),
        ("seeds", bool(config.seeds), "at least one seed", config.seeds),
        ("test_size", config.test_size >= 1, "at least 1", config.test_size),
        (
            "validation_fraction",
            0 < config.validation_fraction < 1,
            "in (0, 1)",
            config.validation_fraction,
        ),
        ("noise_std", config.noise_std >= 0, "non-negative", config.noise_std),
        ("batch_size", config.batch_size >= 1, "at least 1", config.batch_size),
        ("lr", config.lr > 0, "positive", config.lr),
    ]
    for key, ok, requirement, value in checks:
        if not ok:
            raise ConfigError(
                f"The '{key}' setting must be {requirement}. Got {value!r} instead; change it "
                f"with --set {key}=VALUE."
            )
    n_val = max(1, round(config.validation_fraction * smallest))
    if smallest - n_val < 1:
        raise ConfigError(
            f"The 'sizes' setting must leave training samples after the validation split "
            f"({config.validation_fraction:g} of each size). Got {smallest} instead; change it "
            "with --set sizes=30,300,2000."
        )


def plot_teacher_student(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Test loss against labelled samples, regularised vs unregularised (mean and seeds).

    The dashed line is the test targets' variance: the loss of predicting their mean.
    """
    fig, axes = new_figure()
    ax = axes[0, 0]
    sizes = sorted({int(r["size"]) for r in rows})
    for i, setting in enumerate(("regularised", "unregularised")):
        points = [r for r in rows if r["setting"] == setting]
        if not points:
            continue
        ax.plot(
            [int(r["size"]) for r in points],
            [float(r["test_loss"]) for r in points],
            "o",
            alpha=0.4,
            color=color(i),
        )
        means = [
            np.mean([float(r["test_loss"]) for r in points if int(r["size"]) == size])
            for size in sizes
        ]
        seeds = len({r["seed"] for r in points})
        over = "one seed" if seeds == 1 else f"mean over {seeds} seeds"
        ax.plot(sizes, means, "-", lw=2, color=color(i), label=f"{setting} ({over})")
    variance = np.mean([float(r["test_target_variance"]) for r in rows])
    ax.axhline(variance, ls="--", color="0.5", label="target variance (predict the mean)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sizes, labels=[str(size) for size in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("labelled samples (training + validation)")
    ax.set_ylabel("test loss (mean squared error)")
    ax.set_title("Teacher-student regression: l0-regularised vs unregularised student")
    ax.legend()
    return save_png(fig, path)


def teacher_student_verdicts(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per data size: mean test loss of both settings over seeds, and in how many seeds the
    regularised student was the better one (the paired comparison the expectation is about)."""
    out = []
    for size in sorted({int(r["size"]) for r in rows}):
        loss = {
            (r["setting"], str(r["seed"])): float(r["test_loss"])
            for r in rows
            if int(r["size"]) == size
        }
        seeds = sorted({seed for _, seed in loss})
        paired = [s for s in seeds if ("regularised", s) in loss and ("unregularised", s) in loss]
        better = sum(loss[("regularised", s)] < loss[("unregularised", s)] for s in paired)
        out.append(
            {
                "size": size,
                "seeds": len(paired),
                "regularised_mean": float(np.mean([loss[("regularised", s)] for s in paired]))
                if paired
                else None,
                "unregularised_mean": float(np.mean([loss[("unregularised", s)] for s in paired]))
                if paired
                else None,
                "regularised_better": better,
            }
        )
    return out


def teacher_student_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The result beside the paper's expectation, one line per data size."""
    lines = [
        "# Teacher-student: l0-regularised vs unregularised student",
        "",
        f"Paper's expectation: {TEACHER_STUDENT_EXPECTATION}.",
        "",
        markdown_table(
            [
                "samples",
                "seeds",
                "test loss, regularised (mean)",
                "unregularised (mean)",
                "regularised better in",
            ],
            [
                [
                    v["size"],
                    v["seeds"],
                    format_cell(v["regularised_mean"], 4, significant=True),
                    format_cell(v["unregularised_mean"], 4, significant=True),
                    f"{v['regularised_better']} of {v['seeds']} seeds",
                ]
                for v in teacher_student_verdicts(rows)
            ],
            align="rrrrr",
        ),
    ]
    lines += [
        "",
        "Each student's run directory (`<size>-<setting>-seed<seed>/`) holds the full records; "
        "`tomoprune analyze` reads them.",
    ]
    return "\n".join(lines) + "\n"


def run_teacher_student_figure(
    config: TeacherStudentConfig, out_dir: Path
) -> tuple[list[dict[str, Any]], Path]:
    """Run the experiment into ``out_dir``; draw ``teacher_student.png`` and write
    ``teacher_student.md`` (the result beside the paper's expectation) from its CSV."""
    run_teacher_student(config, out_dir)
    rows = read_csv(out_dir / RESULTS_FILE)
    atomic_write_text(out_dir / TEACHER_STUDENT_SUMMARY, teacher_student_markdown(rows))
    return rows, plot_teacher_student(rows, out_dir / TEACHER_STUDENT_FIGURE)
