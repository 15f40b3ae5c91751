"""Many runs from their specs to finished run directories: check, execute, record outcomes.

``execute_runs`` is the one multi-run executor: ``sweep`` (``run_sweep``, a TOML spec expanded
into ``DIR/runs/``), ``compare`` (one run per method in ``OUT/<method>/``), ``reproduce
table1`` (its three methods, and with ``--seeds`` every seed) and ``reproduce l0`` all hand it a
list of ``RunSpec``. Whatever the backend, finished runs are skipped, interrupted ones resumed,
each run holds a lock while it runs, and a failing run is recorded (``status.json``,
``<run>/error.txt``) while the others go on.
"""

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
from tomoprune.fileio import atomic_write_json, read_json
from tomoprune.records import schema
from tomoprune.records.writer import run_status
from tomoprune.runs.runner import canonical_settings, check_same_config
from tomoprune.sweeps import directory
from tomoprune.sweeps.execute import (
    BACKENDS,
    DEFAULT_TORCH_THREADS,
    RunOutcome,
    RunTask,
    run_inline,
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


def default_workers(torch_threads: int | None = DEFAULT_TORCH_THREADS) -> int:
    """As many runs at once as the cores this process may use allow."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, torch_threads or cores or 1))


def tasks_for(
    runs: Sequence[RunSpec],
    runs_dir: Path,
    locks_dir: Path | None,
    torch_threads: int | None,
    reuse: Sequence[Path] = (),
    overwrite: bool = False,
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
            overwrite=overwrite,
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
    reporter_factory: Callable[[], Any] | None = None,
) -> list[RunOutcome]:
    """Run ``tasks`` on ``backend``; outcomes in completion order. ``reporter_factory`` gives
    each inline run its progress display (workers of the other backends show none)."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}. Got {backend!r}.")
    if backend == "ray":
        return run_ray(tasks, address, on_done)
    if address is not None:
        raise ConfigError("--address is for --backend ray; drop it or add --backend ray.")
    if backend == "inline":
        if workers not in (None, 1):
            raise ConfigError(
                f"--workers is for --backend local (inline runs one at a time). Got {workers}."
            )
        return run_inline(tasks, on_done, reporter_factory)
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


def _record_finished_before(state: Path, names: Sequence[str]) -> None:
    """Finished runs that ``status.json`` does not list yet (a killed process can finish a run
    and die before recording it) are recorded as finished, so the file lists every run."""
    path = state / directory.STATUS_FILE
    known = read_json(path).get("runs", {}) if path.is_file() else {}
    missing = {name: RunOutcome(name, "finished") for name in names if name not in known}
    if missing:
        _write_status(state, missing)


def execute_runs(
    runs: Sequence[RunSpec],
    runs_dir: str | Path,
    *,
    state_dir: str | Path | None = None,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    torch_threads: int | None = DEFAULT_TORCH_THREADS,
    overwrite: bool = False,
    reuse: Sequence[Path] = (),
    progress: Callable[[int, int], Any] | None = None,
    on_done: Callable[[RunOutcome], None] = lambda outcome: None,
    reporter_factory: Callable[[], Any] | None = None,
) -> SweepResult:
    """Run every run of ``runs`` into ``runs_dir/<name>`` that has not finished yet.

    Every existing run is checked first (a run with other settings is refused before anything
    runs, unless ``overwrite``, which starts every run afresh). ``state_dir`` (default
    ``runs_dir``) gets ``status.json`` (each run's last outcome) and ``locks/``. A failing run
    is recorded there and in ``<run>/error.txt``; the others go on. A run missing here but
    finished with the same settings in one of the ``reuse`` sweep directories is linked, not
    run again. ``progress(done, total)`` is called at the start and after each run.
    """
    runs_dir = Path(runs_dir)
    state = Path(state_dir) if state_dir is not None else runs_dir
    if torch_threads is not None and torch_threads < 1:
        raise ConfigError(f"--threads-per-run must be at least 1. Got {torch_threads}.")
    if backend not in BACKENDS:
        raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}. Got {backend!r}.")
    if not overwrite:
        for run in runs:
            if run_status(runs_dir / run.name) is not None:
                check_same_config(runs_dir / run.name, run.config)
    todo = [r for r in runs if overwrite or run_status(runs_dir / r.name) != "finished"]
    result = SweepResult(out=state, total=len(runs), already_finished=len(runs) - len(todo))
    _record_finished_before(state, [r.name for r in runs if r not in todo])
    started = time.perf_counter()
    done = result.already_finished
    if progress:
        progress(done, len(runs))

    def finished_one(outcome: RunOutcome) -> None:
        nonlocal done
        done += 1
        result.outcomes.append(outcome)
        _write_status(state, {outcome.name: outcome})
        if outcome.details and not outcome.ok:
            (runs_dir / outcome.name).mkdir(parents=True, exist_ok=True)
            (runs_dir / outcome.name / "error.txt").write_text(outcome.details, encoding="utf-8")
        on_done(outcome)
        if progress:
            progress(done, len(runs))

    if todo:
        state.mkdir(parents=True, exist_ok=True)
        tasks = tasks_for(
            todo, runs_dir, state / directory.LOCKS_DIR, torch_threads, reuse, overwrite
        )
        execute(
            tasks,
            backend=backend,
            workers=workers,
            address=address,
            on_done=finished_one,
            reporter_factory=reporter_factory,
        )
    result.seconds = time.perf_counter() - started
    return result


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
    writes ``sweep.json``, then hands the runs to ``execute_runs``.
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
    return execute_runs(
        runs,
        out / directory.RUNS_DIR,
        state_dir=out,
        backend=backend,
        workers=workers,
        address=address,
        torch_threads=torch_threads,
        reuse=reuse,
        progress=progress,
        on_done=on_done,
    )
