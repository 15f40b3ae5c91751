"""The layout of a sweep directory, and the check that it holds this sweep's settings.

::

    DIR/sweep.json          the spec, every run's name and axis values, the backend used
    DIR/status.json         each run's last outcome (finished / failed + error / ...)
    DIR/runs/<name>/        one ordinary run directory per run (config.json, cycles.csv, ...)
    DIR/locks/<name>.lock   held while a process runs <name>
    DIR/aggregate/          tables, comparisons, figures (``tomoprune report DIR``)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tomoprune import config as cfg
from tomoprune.errors import ConfigError
from tomoprune.fileio import atomic_write_json, read_json
from tomoprune.records.writer import run_status
from tomoprune.runs.runner import check_same_config
from tomoprune.sweeps.spec import RunSpec, SweepSpec

SWEEP_FILE = "sweep.json"
STATUS_FILE = "status.json"
RUNS_DIR = "runs"
LOCKS_DIR = "locks"
AGGREGATE_DIR = "aggregate"
SWEEP_FORMAT = "tomoprune.sweep/1"


def is_sweep_dir(path: Path) -> bool:
    return (Path(path) / SWEEP_FILE).is_file()


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value))


def check_directory(out: Path, spec: SweepSpec, runs: Sequence[RunSpec]) -> None:
    """Refuse ``out`` when it holds another sweep or a run with other settings.

    A sweep may grow (more seeds, more values on an axis): only the base settings, the set of
    axes and each already existing run must agree.
    """
    path = out / SWEEP_FILE
    if path.is_file():
        saved = read_json(path)
        if saved.get("format") != SWEEP_FORMAT:
            raise ConfigError(f"{path}: not a tomoprune sweep; choose another --out.")
        old = saved.get("spec", {})
        if _normal(old.get("base")) != _normal(spec.base):
            raise ConfigError(
                f"{out} holds a sweep with other base settings ({old.get('base')}); "
                "choose another --out or remove that directory."
            )
        if sorted(old.get("axes", {})) != sorted(spec.axes):
            raise ConfigError(
                f"{out} holds a sweep over other axes ({', '.join(old.get('axes', {})) or 'none'}"
                "); choose another --out or remove that directory."
            )
    elif out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty and holds no sweep; choose another --out.")
    for run in runs:
        run_dir = out / RUNS_DIR / run.name
        if run_status(run_dir) is not None:
            check_same_config(run_dir, run.config)


def write_sweep_file(
    out: Path, spec: SweepSpec, runs: Sequence[RunSpec], extra: dict[str, Any]
) -> None:
    """``sweep.json``: the spec and each run's name, axes and method (merged with runs a
    previous, smaller version of the sweep wrote)."""
    path = out / SWEEP_FILE
    known: dict[str, dict[str, Any]] = {}
    if path.is_file():
        known = {r["name"]: r for r in read_json(path).get("runs", [])}
    for run in runs:
        known[run.name] = {
            "name": run.name,
            "axes": _normal(run.axes),
            "method": run.config.method,
            "profile": run.config.profile,
            "seed": run.config.seed,
        }
    atomic_write_json(
        path,
        {"format": SWEEP_FORMAT, "spec": spec.to_dict(), "runs": list(known.values()), **extra},
    )


def read_sweep_file(out: Path) -> dict[str, Any]:
    path = Path(out) / SWEEP_FILE
    if not path.is_file():
        raise ConfigError(f"{out}: no {SWEEP_FILE}; this is not a sweep directory.")
    return read_json(path)


def run_dirs(out: Path) -> dict[str, Path]:
    """Every run the sweep file lists, by name, whether or not it has finished."""
    return {r["name"]: Path(out) / RUNS_DIR / r["name"] for r in read_sweep_file(out)["runs"]}


def config_dict(run: RunSpec) -> dict[str, Any]:
    return _normal(cfg.to_dict(run.config))
