"""Several runs side by side (methods, seeds, settings), each in its own run directory.

A finished run is reused and an interrupted one resumed, so re-running a sweep only computes
what is missing. Runs execute one after another in this process; the ``Executor`` seam is where
a parallel backend plugs in.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tomoprune import config as cfg
from tomoprune.engine.progress import Reporter
from tomoprune.engine.runner import run_experiment
from tomoprune.errors import ConfigError
from tomoprune.records import schema
from tomoprune.records.io import atomic_write_csv, atomic_write_text, read_csv, read_json


def run_status(run_dir: Path) -> str | None:
    """ "finished", "running"/"stopped" (resumable), or None when there is no run yet."""
    path = run_dir / schema.CONFIG_FILE
    return read_json(path).get("status") if path.is_file() else None


def canonical_settings(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved config's dotted settings, with settings added since it was written filled in
    with their defaults (every new setting's default keeps the old behaviour)."""
    with contextlib.suppress(ConfigError):  # written by another version: compare as it is
        saved = cfg.to_dict(cfg.from_dict(saved))
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
            f"{run_dir} holds a run with other settings ({', '.join(changed[:4])}); "
            "choose another --out or remove that run directory."
        )


def run_sweep(
    configs: Mapping[str, cfg.RunConfig],
    out_dir: Path,
    *,
    reporter_factory: Callable[[], Reporter] = Reporter,
    announce: Callable[[str], None] = lambda message: None,
) -> dict[str, Path]:
    """Run every named config into ``out_dir/<name>`` (reusing or resuming what exists)."""
    run_dirs: dict[str, Path] = {}
    for name, config in configs.items():
        run_dir = out_dir / name
        run_dirs[name] = run_dir
        status = run_status(run_dir)
        if status is not None:
            check_same_config(run_dir, config)
        if status == "finished":
            announce(f"{name}: finished run found in {run_dir}, reused")
            continue
        resume = status is not None and (run_dir / schema.CHECKPOINT_DIR).is_dir()
        announce(f"{name}: {'resuming' if resume else 'running'} into {run_dir}")
        run_experiment(
            None if resume else config, run_dir, resume=resume, reporter=reporter_factory()
        )
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
