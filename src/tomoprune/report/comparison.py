"""``compare``'s side-by-side table: the test accuracy of each run after every cycle.

Reads the runs' records only (``records.load_run``), so the table can be redrawn without
re-training; writes ``comparison.csv`` and ``comparison.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tomoprune.fileio import atomic_write_csv, atomic_write_text
from tomoprune.records.reader import load_run
from tomoprune.records.tables import markdown_table

COMPARISON_CSV = "comparison.csv"
COMPARISON_MD = "comparison.md"


def comparison_rows(run_dirs: Mapping[str, Path]) -> list[dict[str, Any]]:
    """One row per cycle: width and sparsity of the first run, test accuracy of each run."""
    tables = {name: load_run(path).rows for name, path in run_dirs.items()}
    length = max((len(rows) for rows in tables.values()), default=0)
    out = []
    for i in range(length):
        row: dict[str, Any] = {"cycle": i + 1}
        for name, rows in tables.items():
            if i < len(rows):
                row.setdefault("width", int(rows[i]["width"]))
                row.setdefault("sparsity", float(rows[i]["sparsity"]))
                value = rows[i]["test_accuracy"]
                row[name] = None if value is None else float(value)
        out.append(row)
    return out


def write_comparison(out_dir: Path, run_dirs: Mapping[str, Path]) -> list[dict[str, Any]]:
    """``comparison.csv`` and ``comparison.md``: test accuracy of each run per cycle."""
    rows = comparison_rows(run_dirs)
    names = list(run_dirs)
    atomic_write_csv(out_dir / COMPARISON_CSV, ["cycle", "width", "sparsity", *names], rows)
    table = markdown_table(
        ["cycle", "width", "sparsity", *names],
        [
            [row["cycle"], row.get("width"), row.get("sparsity"), *map(row.get, names)]
            for row in rows
        ],
        align="r" * (3 + len(names)),
    )
    atomic_write_text(out_dir / COMPARISON_MD, table + "\n")
    return rows
