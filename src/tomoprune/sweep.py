"""Several runs side by side (methods, seeds, settings), each in its own run directory.

A finished run is reused and an interrupted one resumed, so re-running a sweep only computes
what is missing. Runs execute one after another in this process; the ``Executor`` seam is where
a parallel backend plugs in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tomoprune import config as cfg
from tomoprune.engine.progress import Reporter
from tomoprune.engine.runner import (  # noqa: F401  (re-exported for the sweeps package)
    canonical_settings,
    check_same_config,
    run_experiment,
)
from tomoprune.records import schema
from tomoprune.records.io import atomic_write_csv, atomic_write_text, read_csv
from tomoprune.records.writer import run_status  # noqa: F401  (re-exported)


def run_sweep(
    configs: Mapping[str, cfg.RunConfig],
    out_dir: Path,
    *,
    reporter_factory: Callable[[], Reporter] = Reporter,
    announce: Callable[[str], None] = lambda message: None,
    overwrite: bool = False,
    threads: int | None = None,
) -> dict[str, Path]:
    """Run every named config into ``out_dir/<name>`` (reusing or resuming what exists;
    ``overwrite`` starts each afresh; ``threads`` as in ``runtime.configure_threads``)."""
    run_dirs: dict[str, Path] = {}
    for name, config in configs.items():
        run_dir = out_dir / name
        run_dirs[name] = run_dir
        status = run_status(run_dir) if not overwrite else None
        if status is not None:
            check_same_config(run_dir, config)
        if status != "finished":
            verb = "continuing" if status is not None else "running"
            announce(f"{name}: {verb} into {run_dir}")
        outcome = run_experiment(
            config, run_dir, overwrite=overwrite, reporter=reporter_factory(), threads=threads
        )
        if outcome.state == "reused":
            announce(f"{name}: finished run found in {run_dir}, reused")
    return run_dirs


def comparison_rows(run_dirs: Mapping[str, Path]) -> list[dict[str, Any]]:
    """One row per cycle: width and sparsity of the first run, test accuracy of each run."""
    tables = {name: read_csv(path / schema.CYCLES_FILE) for name, path in run_dirs.items()}
    length = max(len(rows) for rows in tables.values())
    out = []
    for i in range(length):
        row: dict[str, Any] = {"cycle": i + 1}
        for name, rows in tables.items():
            if i < len(rows):
                row.setdefault("width", int(rows[i]["width"]))
                row.setdefault("sparsity", float(rows[i]["sparsity"]))
                value = rows[i]["test_accuracy"]
                row[name] = float(value) if value not in ("", None) else None
        out.append(row)
    return out


def write_comparison(out_dir: Path, run_dirs: Mapping[str, Path]) -> list[dict[str, Any]]:
    """``comparison.csv`` and ``comparison.md``: test accuracy of each run per cycle."""
    rows = comparison_rows(run_dirs)
    names = list(run_dirs)
    atomic_write_csv(out_dir / "comparison.csv", ["cycle", "width", "sparsity", *names], rows)
    lines = [
        "| cycle | width | sparsity | " + " | ".join(names) + " |",
        "|---:|---:|---:|" + "---:|" * len(names),
    ]
    for row in rows:
        cells = [
            str(row["cycle"]),
            str(row.get("width", "-")),
            f"{row.get('sparsity', np.nan):.4f}",
        ]
        cells += ["-" if row.get(n) is None else f"{row[n]:.4f}" for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    atomic_write_text(out_dir / "comparison.md", "\n".join(lines) + "\n")
    return rows
