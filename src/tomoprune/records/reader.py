"""THE reader of the run record format: ``load_run(run_dir)`` gives one ``RunRecord``.

``records.writer`` is the one writer of a run directory; this module is its one reader, so every
command that reads runs back (``compare``, the reproductions, the sweep aggregate, the report,
the analysis) sees the same cells and gets the same one-line ``RecordError`` for a missing or
corrupt record. It needs neither torch nor a model: only ``config.json``, ``cycles.csv``,
``summary.json`` and, when asked for, ``phases.csv``, ``measurements.json`` and
``accounting.json`` (read lazily, once).

Cells come back as ``atomic_write_csv`` wrote them (``tomoprune.fileio.csv_value``): None for an empty
cell, ints as ints, floats as floats (``repr`` round-trips exactly), other text as text.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from tomoprune.errors import RecordError
from tomoprune.fileio import csv_value, read_json
from tomoprune.records import schema

PathLike = str | os.PathLike[str]


def read_table(path: PathLike) -> list[dict[str, Any]]:
    """A record CSV as typed rows (``csv_value`` per cell), checked cell by cell: a row with
    more or fewer cells than the header is a corrupt record, reported in one line."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = []
            for row in reader:
                if None in row or any(value is None for value in row.values()):
                    raise RecordError(
                        f"{path}: line {reader.line_num} does not have one cell per header "
                        "column; the file is corrupt (re-run the command that wrote it)."
                    )
                rows.append({key: csv_value(value) for key, value in row.items()})
            return rows
    except FileNotFoundError:
        raise RecordError(f"{path}: file not found; is this a tomoprune run directory?") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise RecordError(f"{path}: not a readable CSV record ({exc}).") from None


def _number(value: Any) -> float:
    """A cell as a float: NaN for an empty cell or the text ``none``/``null``/``nan``."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        if value.strip().lower() in ("", "none", "null", "nan"):
            return math.nan
        return float(value)  # ValueError for real text
    return float(value)


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """The records of one run directory, as written.

    Attributes
    ----------
    path : Path
        The run directory.
    config : dict
        ``config.json``: the resolved config, seeds, provenance and ``status``.
    rows : tuple of dict
        ``cycles.csv`` in file order, one dict per cycle, cells typed by ``csv_value``.
    summary : dict or None
        ``summary.json``; None while the run has not stopped yet.
    """

    path: Path
    config: dict[str, Any]
    rows: tuple[dict[str, Any], ...]
    summary: dict[str, Any] | None

    @property
    def status(self) -> str | None:
        """ "running", "finished", "stopped" or "interrupted" (``records.writer``)."""
        return self.config.get("status")

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def method(self) -> str | None:
        return self.config.get("method")

    @property
    def settings(self) -> dict[str, Any]:
        """The resolved run config (``config.json``'s ``config``), empty when absent."""
        return dict(self.config.get("config") or {})

    @property
    def column_names(self) -> list[str]:
        names: list[str] = []
        for row in self.rows:
            names += [k for k in row if k not in names]
        return names

    def column(self, name: str) -> np.ndarray:
        """One ``cycles.csv`` column as float64 in file order, NaN for an empty cell.

        Raises ``RecordError`` when the column is absent or holds text."""
        if self.rows and name not in self.rows[0]:
            raise RecordError(
                f"{self.path / schema.CYCLES_FILE}: no column {name!r}; expected the tomoprune "
                "cycles.csv format."
            )
        try:
            return np.array([_number(row.get(name)) for row in self.rows], dtype=float)
        except ValueError:
            raise RecordError(
                f"{self.path / schema.CYCLES_FILE}: column {name!r} holds non-numeric values; "
                "the file is not a tomoprune cycles.csv or is corrupt."
            ) from None

    @cached_property
    def columns(self) -> dict[str, np.ndarray]:
        """Every numeric ``cycles.csv`` column (text columns, e.g. a solver status, left out)."""
        out = {}
        for name in self.column_names:
            try:
                out[name] = self.column(name)
            except RecordError:
                continue
        return out

    @cached_property
    def phases(self) -> list[dict[str, Any]]:
        """``phases.csv`` rows (empty when the run wrote none)."""
        path = self.path / schema.PHASES_FILE
        return read_table(path) if path.is_file() else []

    @cached_property
    def measurements(self) -> Any:
        """``measurements.json`` as written, or None when the run recorded none."""
        path = self.path / schema.MEASUREMENTS_FILE
        return read_json(path) if path.is_file() else None

    @cached_property
    def accounting(self) -> dict[str, Any] | None:
        """``accounting.json`` (before/after cost), or None when absent."""
        path = self.path / schema.ACCOUNTING_FILE
        return read_json(path) if path.is_file() else None


def load_run(run_dir: PathLike, *, finished: bool = False) -> RunRecord:
    """Read one run directory's records.

    Parameters
    ----------
    run_dir : path
        A directory a tomoprune command wrote (``config.json`` and ``cycles.csv`` at least).
    finished : bool
        Refuse a run whose status is not "finished" (one that stopped early or was
        interrupted would give a partial table).

    Raises
    ------
    RecordError
        One line saying which file is missing or corrupt (or that the run has not finished).
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise RecordError(f"{path}: not a directory; pass a tomoprune run directory.")
    missing = [f for f in (schema.CONFIG_FILE, schema.CYCLES_FILE) if not (path / f).is_file()]
    if missing:
        raise RecordError(
            f"{path}: not a tomoprune run directory (no {' or '.join(missing)}); pass the "
            "directory `tomoprune run` wrote."
        )
    config = read_json(path / schema.CONFIG_FILE)
    if not isinstance(config, Mapping):
        raise RecordError(f"{path / schema.CONFIG_FILE}: expected a JSON object.")
    if finished and config.get("status") != "finished":
        raise RecordError(
            f"{path}: the run is {config.get('status')!r}, not finished; run the same command "
            "again to resume it."
        )
    summary_path = path / schema.SUMMARY_FILE
    summary = read_json(summary_path) if summary_path.is_file() else None
    if summary is not None and not isinstance(summary, Mapping):
        raise RecordError(f"{summary_path}: expected a JSON object.")
    return RunRecord(
        path=path,
        config=dict(config),
        rows=tuple(read_table(path / schema.CYCLES_FILE)),
        summary=None if summary is None else dict(summary),
    )
