"""Read run directories into ``RunRecords``, and turn the authors' recorded run into three.

Only the records are read (``config.json``, ``cycles.csv``, ``measurements.json``; format in
``tomoprune.records.schema``), never a model. Reading is tolerant: a missing or malformed
``measurements.json`` or missing values become notes saying what cannot be computed; only a
directory that is not a run directory at all raises ``RecordError``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tomoprune.errors import RecordError
from tomoprune.fileio import read_json
from tomoprune.records.reader import RunRecord, load_run
from tomoprune.records.run_dir import RunDirectory
from tomoprune.records.schema import (
    CYCLE_COLUMNS,
    CYCLES_FILE,
    MEASUREMENTS_FILE,
)
from tomoprune.records.writer import summarize

REQUIRED_COLUMNS = ("cycle", "sparsity", "test_accuracy")

# The two measurement vectors the Gibbs analysis reads: DTC's (``methods.neuron.scoring.dtc``),
# under the names its measurements.json gives them. The analysis is the paper's analysis of
# those two vectors (one entropy setting each in ``AnalysisSettings``); the record schema
# itself names no layers.
MEASUREMENT_LAYERS = ("previous_layer", "next_layer")

PathLike = str | os.PathLike[str]


@dataclass(frozen=True, kw_only=True)
class CycleMeasurement:
    """One cycle of ``measurements.json``; a vector the run did not record is None."""

    cycle: int
    width_before: int | None
    n_measurements: int | None
    measurements: dict[str, np.ndarray | None]
    coefficients: dict[str, np.ndarray | None]
    scores: np.ndarray | None


@dataclass(frozen=True, kw_only=True)
class RunRecords:
    """Everything the analysis reads from one run directory.

    Attributes
    ----------
    name : str
        Short label (the directory name).
    path : Path or None
        Where it was read from (None when built in memory).
    config : dict
        ``config.json`` as written.
    columns : dict[str, numpy.ndarray]
        Numeric columns of ``cycles.csv``, rows sorted by cycle; NaN for an empty cell.
    measurements : tuple of CycleMeasurement, or None
        None when the run recorded no ``measurements.json`` (or it could not be read).
    notes : tuple of str
        What was missing or odd, in plain words.
    """

    name: str
    path: Path | None
    config: dict[str, Any]
    columns: dict[str, np.ndarray]
    measurements: tuple[CycleMeasurement, ...] | None
    notes: tuple[str, ...] = field(default=())

    @property
    def method(self) -> str:
        return method_name(self.config)

    @property
    def cycle(self) -> np.ndarray:
        return self.columns["cycle"].astype(int)

    @property
    def sparsity(self) -> np.ndarray:
        return self.columns["sparsity"]

    @property
    def test_accuracy(self) -> np.ndarray:
        return self.columns["test_accuracy"]

    @property
    def width(self) -> np.ndarray | None:
        return self.columns.get("width")

    def measurement_rows(self) -> list[CycleMeasurement | None]:
        """The measurement record of each cycles.csv row (None where there is none)."""
        if self.measurements is None:
            return [None] * self.cycle.size
        by_cycle = {m.cycle: m for m in self.measurements}
        return [by_cycle.get(int(c)) for c in self.cycle]


def method_name(config: Mapping[str, Any]) -> str:
    """The compression method a config names (a string, or a table with ``name``)."""
    method = config.get("method")
    if isinstance(method, Mapping):
        method = method.get("name") or method.get("method")
    return str(method) if method else "unknown"


def _get(node: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _pairs(mapping: Any, only: Sequence[str] | None = None) -> str | None:
    if not isinstance(mapping, Mapping):
        return None if mapping is None else str(mapping)
    items = [
        f"{k}={v}"
        for k, v in mapping.items()
        if v is not None and not isinstance(v, (Mapping, list)) and (only is None or k in only)
    ]
    return ", ".join(items) or None


def config_summary(config: Mapping[str, Any]) -> dict[str, Any]:
    """Method, profile, dataset, seeds, versions and git commit, wherever the config keeps them.

    Reads the layout ``tomoprune run`` writes (``config.data.dataset``, ``seeds``,
    ``provenance.packages``, ``provenance.git``) and tolerates flatter ones (``dataset``,
    ``versions``, ``git_commit``).
    """
    dataset = config.get("dataset", _get(config, "config", "data", "dataset"))
    if isinstance(dataset, Mapping):
        dataset = dataset.get("name", _pairs(dataset))
    git = _get(config, "provenance", "git") or config.get("git")
    commit = git.get("commit") if isinstance(git, Mapping) else git
    if commit and isinstance(git, Mapping) and git.get("dirty"):
        commit = f"{commit} (modified checkout)"
    versions = _get(config, "provenance", "packages") or config.get("versions")
    source = config.get("source")
    return {
        "method": method_name(config),
        "profile": config.get("profile"),
        "dataset": dataset,
        "status": config.get("status"),
        "seeds": _pairs(config.get("seeds")),
        "versions": _pairs(versions, only=("tomoprune", "torch", "numpy", "scipy", "cvxpy")),
        "git_commit": commit or config.get("git_commit"),
        "source": _pairs(source, only=("repository", "commit", "converted_from"))
        if source
        else None,
    }


def _analysis_columns(record: RunRecord) -> tuple[dict[str, np.ndarray], list[str]]:
    """The numeric cycles.csv columns, rows sorted by cycle, one row per cycle, with notes."""
    path = record.path / CYCLES_FILE
    if not record.rows:
        raise RecordError(
            f"{path}: no rows; the run finished no cycle, so there is nothing to analyse."
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in record.rows[0]]
    if missing:
        raise RecordError(
            f"{path}: missing column(s) {', '.join(missing)}; expected the tomoprune cycles.csv format."
        )
    notes: list[str] = []
    for name in REQUIRED_COLUMNS:
        record.column(name)  # RecordError when a required column holds text
    columns = dict(record.columns)
    if np.any(~np.isfinite(columns["cycle"])):
        raise RecordError(f"{path}: empty 'cycle' cells; the file is corrupt.")
    order = np.argsort(columns["cycle"], kind="stable")
    columns = {k: v[order] for k, v in columns.items()}
    cycles = columns["cycle"]
    if np.unique(cycles).size != cycles.size:
        last = {int(c): i for i, c in enumerate(cycles)}
        keep = np.array(sorted(last.values()))
        columns = {k: v[keep] for k, v in columns.items()}
        notes.append("cycles.csv repeats some cycles; the last row of each cycle is used.")
    for col in ("test_accuracy", "sparsity"):
        bad = columns["cycle"][~np.isfinite(columns[col])].astype(int).tolist()
        if bad:
            notes.append(
                f"{col} is missing or not finite at cycle(s) {bad}: those cycles are left out "
                "of every correlation and curve."
            )
    return columns, notes


def _vector(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    try:
        return np.array([math.nan if v is None else v for v in value], dtype=float)
    except (TypeError, ValueError):
        return np.array([math.nan])


def _layer_vectors(value: Any) -> dict[str, np.ndarray | None]:
    value = value if isinstance(value, Mapping) else {}
    return {layer: _vector(value.get(layer)) for layer in MEASUREMENT_LAYERS}


def measurement_groups(path: PathLike) -> list[str]:
    """Unit groups a run recorded measurements for separately (empty for one-group runs).

    Runs that prune several unit groups write, per cycle, ``{"cycle": c, "groups": {name:
    {...the one-group fields...}}}``; each group is analysed as its own series.
    """
    file = Path(path) / MEASUREMENTS_FILE
    if not file.is_file():
        return []
    try:
        entries = read_json(file)["cycles"]
    except (RecordError, KeyError, TypeError):
        return []
    names: list[str] = []
    for entry in entries if isinstance(entries, list) else []:
        groups = entry.get("groups") if isinstance(entry, Mapping) else None
        if isinstance(groups, Mapping):
            names += [n for n in groups if n not in names]
    return names


def _read_measurements(
    path: Path, method: str, group: str | None = None
) -> tuple[tuple[CycleMeasurement, ...] | None, list[str]]:
    if not path.is_file():
        return None, [
            f"no {MEASUREMENTS_FILE} (method {method!r} records no measurement vectors): Gibbs "
            "entropy, weight rays and the null models cannot be computed for this run; its "
            "accuracy curve and its correlation with another run's entropy can."
        ]
    try:
        raw = read_json(path)
        entries = raw["cycles"]
        if not isinstance(entries, list):
            raise TypeError
    except RecordError as exc:
        return None, [f"{exc} Entropy and weight rays cannot be computed for this run."]
    except (KeyError, TypeError):
        return None, [
            f"{path}: no 'cycles' list; entropy and weight rays cannot be computed for this run."
        ]
    notes: list[str] = []
    out = []
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, Mapping):
            notes.append(f"{MEASUREMENTS_FILE}: entry {position} is not an object; skipped.")
            continue
        cycle = entry.get("cycle", position)
        if group is not None:  # one group of a several-group record; absent = not pruned
            entry = (entry.get("groups") or {}).get(group)
            if not isinstance(entry, Mapping):
                continue
        out.append(
            CycleMeasurement(
                cycle=int(cycle),
                width_before=None
                if entry.get("width_before") is None
                else int(entry["width_before"]),
                n_measurements=None
                if entry.get("n_measurements") is None
                else int(entry["n_measurements"]),
                measurements=_layer_vectors(entry.get("measurements")),
                coefficients=_layer_vectors(entry.get("coefficients")),
                scores=_vector(entry.get("scores")),
            )
        )
    for layer in MEASUREMENT_LAYERS:
        bad = [
            m.cycle
            for m in out
            if m.measurements[layer] is not None and not np.all(np.isfinite(m.measurements[layer]))
        ]
        gone = [m.cycle for m in out if m.measurements[layer] is None]
        if bad:
            notes.append(
                f"{layer} measurements hold missing or non-finite values at cycle(s) {bad}: "
                "their entropy is undefined and those cycles are dropped from the correlations."
            )
        if gone:
            notes.append(f"no {layer} measurement vector at cycle(s) {gone}.")
    if out and all(all(v is None for v in m.coefficients.values()) for m in out):
        notes.append(
            "no recovered coefficient vectors recorded: their zero share and norms are not "
            "available (weight rays use the recorded scores)."
        )
    return tuple(out), notes


def load_analysis_run(
    path: PathLike, name: str | None = None, group: str | None = None
) -> RunRecords:
    """Read one run directory (``records.load_run``) into the analysis' view; with ``group``:
    the measurements of that unit group only.

    Raises
    ------
    RecordError
        When ``path`` is not a directory holding ``config.json`` and ``cycles.csv``, or
        ``cycles.csv`` lacks the columns every run writes.
    """
    record = load_run(path)
    columns, notes = _analysis_columns(record)
    measurements, m_notes = _read_measurements(
        record.path / MEASUREMENTS_FILE, method_name(record.config), group
    )
    notes += m_notes
    if measurements is not None:
        known = set(columns["cycle"].astype(int).tolist())
        extra = sorted(m.cycle for m in measurements if m.cycle not in known)
        if extra:
            notes.append(
                f"{MEASUREMENTS_FILE} has cycle(s) {extra} that cycles.csv lacks; they are ignored."
            )
    return RunRecords(
        name=name or record.path.resolve().name,
        path=record.path,
        config=record.config,
        columns=columns,
        measurements=measurements,
        notes=tuple(notes),
    )


def load_runs(paths: list[PathLike]) -> list[RunRecords]:
    """Read several run directories; repeated directory names get a numeric suffix.

    A run that recorded measurements per unit group becomes one series per group, named
    ``RUN:GROUP`` (e.g. ``dtc:conv1``), so the Gibbs analysis runs layer by layer.
    """
    runs: list[RunRecords] = []
    seen: dict[str, int] = {}
    for p in paths:
        base = Path(p).resolve().name
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base}-{seen[base]}"
        groups = measurement_groups(p)
        if not groups:
            runs.append(load_analysis_run(p, name=name))
        runs += [load_analysis_run(p, name=f"{name}:{g}", group=g) for g in groups]
    return runs


def _list_or_none(v: np.ndarray | None) -> list[float] | None:
    return None if v is None else [float(x) for x in v]


def write_run_records(records: RunRecords, out_dir: PathLike) -> Path:
    """Write ``config.json``, ``cycles.csv``, ``summary.json`` and (when present)
    ``measurements.json`` through the run record writer's files (``RunDirectory``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    directory = RunDirectory(out)
    directory.write_config(records.config)
    names = list(CYCLE_COLUMNS) + [c for c in records.columns if c not in CYCLE_COLUMNS]
    ints = {"cycle", "width", "parameters", "nonzero_parameters", "train_steps"}
    rows = []
    for i in range(records.cycle.size):
        row: dict[str, Any] = {}
        for c in names:
            v = float(records.columns.get(c, np.full(records.cycle.size, np.nan))[i])
            row[c] = None if not math.isfinite(v) else (int(v) if c in ints else v)
        rows.append(row)
    directory.write_cycles(rows)
    directory.write_summary(
        summarize(records.config, rows, records.config.get("status", "finished"))
    )
    if records.measurements is not None:
        directory.write_measurements(
            [
                {
                    "cycle": m.cycle,
                    "width_before": m.width_before,
                    "n_measurements": m.n_measurements,
                    "measurements": {k: _list_or_none(v) for k, v in m.measurements.items()},
                    "coefficients": {k: _list_or_none(v) for k, v in m.coefficients.items()},
                    "scores": _list_or_none(m.scores),
                }
                for m in records.measurements
            ]
        )
    return out
