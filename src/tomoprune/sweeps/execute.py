"""Running many runs: in this process one after another, in a local process pool, or as Ray
tasks on a cluster.

Every multi-run command (``sweep``, ``compare``, ``reproduce table1 [--seeds]``, ``reproduce
l0``) goes through here. The three backends call the same ``execute_run`` on a picklable
``RunTask`` and get the same ``RunOutcome`` back, so a run's records do not depend on where it
ran. Every run:

* takes an exclusive lock (``DIR/locks/<name>.lock``) so that two sweeps, or a sweep and an
  orphaned worker of a killed one, never write into the same run directory;
* is skipped when finished, resumed from its checkpoint when interrupted, started again when
  it was interrupted before its first checkpoint;
* sets its own torch thread count (``torch_threads``) so that parallel runs do not
  oversubscribe the cores, and records it in its config.json provenance;
* catches its own failure: a failing run is reported, the others go on.

No scheduling is ours: the local backend is ``concurrent.futures.ProcessPoolExecutor`` and the
Ray backend hands each run to Ray as a task (Ray places it and retries it when a worker dies).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tomoprune.errors import ConfigError

Backend = Literal["inline", "local", "ray"]
# inline: in this process, one run after another (a live progress display per run); local: a
# process pool on this machine; ray: a Ray cluster
BACKENDS = ("inline", "local", "ray")
LOCKS_DIR = "locks"
# One thread per run, one run per core: on the shared 2-core machine a run with 2 torch threads
# took 31x the time of the same run with 1 thread (its OpenMP threads wait on each other when the
# cores are oversubscribed), and two 1-thread workers ran the same runs 7.5x faster than one
# 2-thread run at a time (benchmarks/bench_sweep.py, results/sweep.json)
DEFAULT_TORCH_THREADS = 1
RAY_MAX_RETRIES = 2  # a run whose worker process died is resubmitted by Ray at most this often


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs to run one run: picklable, no open handles."""

    name: str
    run_dir: str
    config: dict[str, Any]  # tomoprune.config.to_dict form
    # None: the thread default of ``runtime.configure_threads`` ($OMP_NUM_THREADS, else cores)
    torch_threads: int | None = DEFAULT_TORCH_THREADS
    locks_dir: str | None = None
    overwrite: bool = False  # remove the run's records first and start afresh
    # run directories of other sweeps with the same settings: linked when one has finished
    reuse_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunOutcome:
    """What became of one run: ``finished``, ``skipped`` (was finished), ``linked`` (finished
    with the same settings in another sweep), ``busy`` (another process holds its lock) or
    ``failed`` (``error`` says why)."""

    name: str
    status: str
    seconds: float = 0.0
    resumed: bool = False
    error: str | None = None
    details: str | None = None
    host: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("finished", "skipped", "linked")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "seconds": self.seconds,
            "resumed": self.resumed,
            "error": self.error,
            "host": self.host,
        }


@contextlib.contextmanager
def run_lock(locks_dir: str | None, name: str) -> Iterator[bool]:
    """Hold ``locks_dir/name.lock`` exclusively while the block runs; yields False when another
    process holds it (the lock dies with its process, so a killed sweep leaves none)."""
    if locks_dir is None:
        yield True
        return
    Path(locks_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(locks_dir) / f"{name}.lock", "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def execute_run(task: RunTask, reporter: Any = None) -> RunOutcome:
    """Run (or resume, or skip) one run; never raises for a failure of the run itself (Ctrl-C,
    a ``KeyboardInterrupt``, still stops it). ``reporter`` (an ``engine.progress.Reporter``)
    shows its progress; a worker process shows none."""
    import socket

    # lazy: CLI start-up (the spec and the executor load without torch; a run loads it)
    from tomoprune.engine.progress import Reporter
    from tomoprune.records import schema
    from tomoprune.records.writer import clear, run_status
    from tomoprune.runs.resolve import from_dict
    from tomoprune.runs.runner import check_same_config, run_experiment

    started = time.perf_counter()
    host = socket.gethostname()
    run_dir = Path(task.run_dir)
    with run_lock(task.locks_dir, task.name) as held:
        if not held:
            return RunOutcome(task.name, "busy", host=host, error="another process runs it")
        resumed = False
        try:
            config = from_dict(task.config)
            if task.overwrite:
                clear(run_dir)
            status = run_status(run_dir)
            if status is not None:
                check_same_config(run_dir, config)
            if status == "finished":
                return RunOutcome(task.name, "skipped", host=host)
            if status is None:
                for other in map(Path, task.reuse_from):
                    if run_status(other) == "finished":
                        run_dir.parent.mkdir(parents=True, exist_ok=True)
                        run_dir.symlink_to(other, target_is_directory=True)
                        return RunOutcome(task.name, "linked", host=host, details=str(other))
            resumed = status is not None and (run_dir / schema.CHECKPOINT_DIR).is_dir()
            if status is not None and not resumed:
                shutil.rmtree(run_dir)  # stopped before its first checkpoint: nothing to keep
            run_experiment(
                None if resumed else config,
                run_dir,
                resume=resumed,
                reporter=reporter or Reporter(),
                threads=task.torch_threads,
            )
            if run_status(run_dir) != "finished":
                raise RuntimeError("the run stopped before its method's last cycle")
        except Exception as exc:  # a failing run must not stop the others
            return RunOutcome(
                task.name,
                "failed",
                seconds=time.perf_counter() - started,
                resumed=resumed,
                error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
                details=traceback.format_exc(),
                host=host,
            )
    return RunOutcome(
        task.name, "finished", seconds=time.perf_counter() - started, resumed=resumed, host=host
    )


def run_inline(
    tasks: Sequence[RunTask],
    on_done: Callable[[RunOutcome], None],
    reporter_factory: Callable[[], Any] | None = None,
) -> list[RunOutcome]:
    """Run ``tasks`` in this process, one after another, each with a fresh reporter."""
    outcomes: list[RunOutcome] = []
    for task in tasks:
        outcome = execute_run(task, None if reporter_factory is None else reporter_factory())
        outcomes.append(outcome)
        on_done(outcome)
    return outcomes


def _init_worker(torch_threads: int | None) -> None:
    """Pool worker start: BLAS/OpenMP pools sized before anything starts them."""
    if torch_threads is None:
        return
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(torch_threads)
    import torch

    torch.set_num_threads(torch_threads)


def run_local(
    tasks: Sequence[RunTask], workers: int, on_done: Callable[[RunOutcome], None]
) -> list[RunOutcome]:
    """Run ``tasks`` in a pool of ``workers`` processes (in this process when ``workers`` is
    1). Ctrl-C cancels the queued runs; running ones stop at their last checkpoint."""
    if workers <= 1:
        return run_inline(tasks, on_done)
    outcomes: list[RunOutcome] = []
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    threads = tasks[0].torch_threads if tasks else DEFAULT_TORCH_THREADS
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(threads,),
    )
    try:
        pending = {pool.submit(execute_run, task): task for task in tasks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                try:
                    outcome = future.result()
                except Exception as exc:  # the worker process itself died
                    outcome = RunOutcome(task.name, "failed", error=f"worker died: {exc}")
                outcomes.append(outcome)
                on_done(outcome)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return outcomes


def run_ray(
    tasks: Sequence[RunTask],
    address: str | None,
    on_done: Callable[[RunOutcome], None],
) -> list[RunOutcome]:
    """Submit each run as a Ray task (``num_cpus`` = its torch threads) and collect the
    outcomes as they finish. Connects to ``address`` ("auto" or HOST:PORT), starts a local Ray
    instance when none is given, or uses the one already initialised in this process."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--backend ray needs Ray; install it with `pip install tomoprune[ray]`."
        ) from None
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    remote = ray.remote(execute_run)
    refs = {
        remote.options(num_cpus=task.torch_threads or 1, max_retries=RAY_MAX_RETRIES).remote(
            task
        ): task
        for task in tasks
    }
    outcomes: list[RunOutcome] = []
    try:
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            task = refs.pop(done[0])
            try:
                outcome = ray.get(done[0])
            except Exception as exc:  # the task's worker died more often than Ray retries
                outcome = RunOutcome(task.name, "failed", error=f"Ray task failed: {exc}"[:300])
            outcomes.append(outcome)
            on_done(outcome)
    except BaseException:
        for ref in refs:
            ray.cancel(ref)
        raise
    return outcomes
