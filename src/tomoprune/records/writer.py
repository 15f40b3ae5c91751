"""THE writer of the run record format: one object that observes the train-compress loop.

Every command that trains (``run``, ``compare``, ``reproduce table1|l0|teacher-student``) hands
a ``RunRecorder`` to ``CompressionLoop``; the loop tells it when the run starts, when a cycle
has finished and when the run stops (finished, stopped by ``--max-cycles`` or interrupted), and
the recorder writes the files of ``records.schema`` atomically. So every run directory any
command leaves has ``config.json``, ``cycles.csv``, ``phases.csv``, ``summary.json`` and (once a
cycle finished) the model, and ``tomoprune analyze`` accepts it.

``config.json`` carries ``status``: "running" while the loop runs, then "finished", "stopped"
(``--max-cycles`` reached; the same command continues) or "interrupted" (Ctrl-C or an error;
the same command continues from the last finished cycle).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Protocol

from tomoprune.fileio import read_json
from tomoprune.records import schema
from tomoprune.records.provenance import provenance
from tomoprune.records.run_dir import RunDirectory
from tomoprune.runtime import thread_report

RUN_FORMAT = "tomoprune.run/1"

# files a run directory may hold; ``clear`` removes these (and only these) for --overwrite
RECORD_FILES = (
    schema.CONFIG_FILE,
    schema.CYCLES_FILE,
    schema.PHASES_FILE,
    schema.SUMMARY_FILE,
    schema.MEASUREMENTS_FILE,
    schema.MODEL_FILE,
    schema.MODEL_SPEC_FILE,
    "model.sparse.safetensors",
)


class LoopView(Protocol):
    """What the recorder reads from the loop (``CompressionLoop`` has all of it)."""

    cycle: int
    rows: list[dict[str, Any]]
    phase_rows: list[dict[str, Any]]
    measurements: list[dict[str, Any]]

    def state_dict(self) -> dict[str, Any]: ...


def summarize(header: dict[str, Any], rows: list[dict[str, Any]], status: str) -> dict[str, Any]:
    """``summary.json``: the run's bottom line, from its header and cycle rows.

    Weight-level methods (those whose rows carry ``compression_ratio``) also get the share of
    zero weights and the compression ratio, beside the unit-level ``final_sparsity``.
    """
    last = rows[-1] if rows else {}
    accuracies = [r["test_accuracy"] for r in rows if r.get("test_accuracy") is not None]
    summary = {
        "method": header.get("method"),
        "profile": header.get("profile"),
        "dataset": (header.get("config") or {}).get("data", {}).get("dataset"),
        "status": status,
        "finished": status == "finished",
        "cycles": len(rows),
        "final_width": last.get("width"),
        "final_sparsity": last.get("sparsity"),
        "final_test_accuracy": last.get("test_accuracy"),
        "final_test_loss": last.get("test_loss"),
        "best_test_accuracy": max(accuracies, default=None),
        "parameters": last.get("parameters"),
        "nonzero_parameters": last.get("nonzero_parameters"),
        "train_seconds": sum(r.get("train_seconds") or 0.0 for r in rows),
        "prune_seconds": sum(r.get("prune_seconds") or 0.0 for r in rows),
    }
    if last.get("compression_ratio") is not None:
        initial = last.get("initial_parameters") or last.get("parameters")
        nonzero = last.get("nonzero_parameters")
        summary["compression_ratio"] = last["compression_ratio"]
        summary["weight_sparsity"] = None if not initial else 1.0 - nonzero / initial
    return summary


class RunRecorder:
    """Writes one run directory while a ``CompressionLoop`` runs.

    ``header`` is the body of ``config.json`` without ``status`` (format, method, profile, the
    resolved config, seeds, provenance); ``build_header`` makes one.
    """

    def __init__(self, path: str | Path, header: dict[str, Any] | None = None) -> None:
        self.directory = RunDirectory(path)
        self.header = dict(header or {})

    @property
    def path(self) -> Path:
        return self.directory.path

    # -- what the loop calls ----------------------------------------------------------
    def started(self, loop: LoopView) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self._write_config("running")
        if not loop.rows:  # a fresh start: the tables exist (empty) from the beginning
            self._write_tables(loop)

    def cycle_finished(self, loop: LoopView) -> None:
        """After each cycle: the checkpoint first, then the tables it is consistent with."""
        self.directory.save_checkpoint(loop.state_dict())
        self._write_tables(loop)

    def stopped(self, loop: LoopView, model: Any, status: str) -> dict[str, Any]:
        """The model (when a cycle finished), the summary and the final status."""
        if loop.rows and model is not None:
            self.directory.save_model(model)
        summary = summarize(self.header, loop.rows, status)
        self.directory.write_summary(summary)
        self._write_config(status)
        return summary

    # -- helpers ------------------------------------------------------------------------
    def _write_config(self, status: str) -> None:
        self.directory.write_config({**self.header, "status": status})

    def _write_tables(self, loop: LoopView) -> None:
        self.directory.write_cycles(loop.rows)
        self.directory.write_phases(loop.phase_rows)
        if loop.measurements:
            self.directory.write_measurements(loop.measurements)

    def checkpoint(self) -> dict[str, Any] | None:
        return self.directory.load_checkpoint()


def build_header(
    *,
    method: str,
    profile: str,
    config: dict[str, Any],
    seeds: dict[str, Any],
    threads: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``config.json`` body every run directory carries (status is added by the writer)."""
    return {
        "format": RUN_FORMAT,
        "method": method,
        "profile": profile,
        "config": config,
        "seeds": seeds,
        "provenance": {**provenance(), "threads": threads, "thread_pools": thread_report()},
        **(extra or {}),
    }


def run_status(path: str | Path) -> str | None:
    """The ``status`` in ``path/config.json``, or None when there is no run there yet."""
    file = Path(path) / schema.CONFIG_FILE
    return read_json(file).get("status") if file.is_file() else None


def clear(path: str | Path) -> None:
    """Remove the records of a run directory (for ``--overwrite``); other files stay."""
    path = Path(path)
    for name in RECORD_FILES:
        (path / name).unlink(missing_ok=True)
    shutil.rmtree(path / schema.CHECKPOINT_DIR, ignore_errors=True)
