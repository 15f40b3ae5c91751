"""A sweep from spec to finished run directories: check, expand, execute, record outcomes."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tomoprune import config as cfg
from tomoprune.errors import ConfigError
from tomoprune.records import schema
from tomoprune.records.io import atomic_write_json, read_json
from tomoprune.sweep import canonical_settings, run_status
from tomoprune.sweeps import directory
from tomoprune.sweeps.execute import (
    BACKENDS,
    DEFAULT_TORCH_THREADS,
    RunOutcome,
    RunTask,
    run_local,
    run_ray,
)
from tomoprune.sweeps.spec import RunSpec, SweepSpec


@dataclass
class SweepResult:
    out: Path
    total: int
    outcomes: list[RunOutcome] = field(default_factory=list)
    already_finished: int = 0
    seconds: float = 0.0

    @property
    def failures(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def ok(self) -> bool:
        return not self.failures


def default_workers(torch_threads: int = DEFAULT_TORCH_THREADS) -> int:
    """As many runs at once as the cores this process may use allow."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, torch_threads))


def tasks_for(
    runs: Sequence[RunSpec],
    runs_dir: Path,
    locks_dir: Path | None,
    torch_threads: int,
    reuse: Sequence[Path] = (),
) -> list[RunTask]:
    """One task per run; runs that another sweep also has come last, so that by the time
    they start the other sweep has likely finished them and they are linked, not run."""
    candidates = runs_by_settings(reuse) if reuse else {}
    tasks = [
        RunTask(
            name=run.name,
            run_dir=str(runs_dir / run.name),
            config=directory.config_dict(run),
            torch_threads=torch_threads,
            locks_dir=None if locks_dir is None else str(locks_dir),
            reuse_from=tuple(
                str(p) for p in candidates.get(config_key(cfg.to_dict(run.config)), [])
            ),
        )
        for run in runs
    ]
    return sorted(tasks, key=lambda task: bool(task.reuse_from))


def execute(
    tasks: Sequence[RunTask],
    *,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    on_done: Callable[[RunOutcome], None] = lambda outcome: None,
) -> list[RunOutcome]:
    """Run ``tasks`` on ``backend``; outcomes in completion order."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}. Got {backend!r}.")
    if backend == "ray":
        return run_ray(tasks, address, on_done)
    if address is not None:
        raise ConfigError("--address is for --backend ray; drop it or add --backend ray.")
    threads = tasks[0].torch_threads if tasks else DEFAULT_TORCH_THREADS
    count = workers if workers is not None else default_workers(threads)
    if count < 1:
        raise ConfigError(f"--workers must be at least 1. Got {count}.")
    return run_local(tasks, min(count, max(1, len(tasks))), on_done)


IGNORED_KEYS = ("data.data_dir",)  # where the files live does not change the numbers


def config_key(config_dict: Mapping[str, Any]) -> str:
    """A canonical text of a run's settings, for finding the same run elsewhere."""
    flat = canonical_settings(dict(config_dict))
    return json.dumps({k: v for k, v in sorted(flat.items()) if k not in IGNORED_KEYS})


def runs_by_settings(sweep_dirs: Sequence[Path]) -> dict[str, list[Path]]:
    """The runs of other sweep directories (finished or not), by ``config_key``."""
    found: dict[str, list[Path]] = {}
    for sweep_dir in sweep_dirs:
        runs_dir = Path(sweep_dir) / directory.RUNS_DIR
        if not runs_dir.is_dir():
            raise ConfigError(f"--reuse {sweep_dir}: no runs/ folder; pass a sweep directory.")
        for run_dir in sorted(runs_dir.iterdir()):
            if run_status(run_dir) is not None:
                saved = read_json(run_dir / schema.CONFIG_FILE).get("config") or {}
                found.setdefault(config_key(saved), []).append(run_dir.resolve())
    return found


def _write_status(out: Path, outcomes: Mapping[str, RunOutcome]) -> None:
    path = out / directory.STATUS_FILE
    known = read_json(path).get("runs", {}) if path.is_file() else {}
    known.update({name: o.to_dict() for name, o in outcomes.items()})
    atomic_write_json(path, {"runs": known})


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    torch_threads: int = DEFAULT_TORCH_THREADS,
    reuse: Sequence[Path] = (),
    progress: Callable[[int, int], Any] | None = None,
    on_done: Callable[[RunOutcome], None] = lambda outcome: None,
) -> SweepResult:
    """Run every run of ``spec`` into ``out/runs/<name>`` that has not finished yet.

    Checks the directory first (another sweep's settings are refused before anything runs),
    then runs what is missing; a failing run is recorded in ``status.json`` and the others go
    on. A run missing here but finished with the same settings in one of the ``reuse`` sweep
    directories is linked, not run again. ``progress(done, total)`` is called at the start and
    after each run.
    """
    out = Path(out)
    runs = spec.expand(overrides)
    if torch_threads < 1:
        raise ConfigError(f"--threads-per-run must be at least 1. Got {torch_threads}.")
    directory.check_directory(out, spec, runs)
    out.mkdir(parents=True, exist_ok=True)
    directory.write_sweep_file(
        out, spec, runs, {"overrides": dict(overrides or {}), "backend": backend}
    )
    runs_dir = out / directory.RUNS_DIR
    todo = [r for r in runs if run_status(runs_dir / r.name) != "finished"]
    # a run that finished just before its sweep was killed has no status entry yet: its
    # records say finished, so status.json says so too
    status_path = out / directory.STATUS_FILE
    listed = read_json(status_path).get("runs", {}) if status_path.is_file() else {}
    unlisted = [r.name for r in runs if r not in todo and r.name not in listed]
    if unlisted:
        _write_status(out, {name: RunOutcome(name, "finished") for name in unlisted})
    result = SweepResult(out=out, total=len(runs), already_finished=len(runs) - len(todo))
    started = time.perf_counter()
    done = result.already_finished
    if progress:
        progress(done, len(runs))
    recorded: dict[str, RunOutcome] = {}

    def finished_one(outcome: RunOutcome) -> None:
        nonlocal done
        done += 1
        result.outcomes.append(outcome)
        recorded[outcome.name] = outcome
        _write_status(out, {outcome.name: outcome})
        if outcome.details and not outcome.ok:
            (runs_dir / outcome.name).mkdir(parents=True, exist_ok=True)
            (runs_dir / outcome.name / "error.txt").write_text(outcome.details, encoding="utf-8")
        on_done(outcome)
        if progress:
            progress(done, len(runs))

    tasks = tasks_for(todo, runs_dir, out / directory.LOCKS_DIR, torch_threads, reuse)
    execute(tasks, backend=backend, workers=workers, address=address, on_done=finished_one)
    result.seconds = time.perf_counter() - started
    return result
