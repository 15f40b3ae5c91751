"""Thread pools, set deliberately: reproducible numbers and no fight over the cores.

PyTorch's CPU matmuls run on MKL, which by default may use fewer threads than asked for when
the machine is busy ("dynamic" threading); a different split of a reduction changes the last
bits of a result, so a run could give different numbers under load. ``configure_threads``
turns that off. numpy/scipy's OpenBLAS serves only the small compressed-sensing solves, which
are fastest on one thread (see benchmarks/results); giving it more threads makes it compete
with PyTorch's OpenMP pool for the same cores.

Several runs on one machine: by default an OpenMP worker that runs out of work spins on its
core for a while before it sleeps. Two processes whose pools each take every core then spend
most of their time spinning against each other (measured: two concurrent 3-cycle MNIST runs on
2 cores ran ~20x slower per cycle than one alone). ``prepare_thread_pools`` asks for passive
waiting (``OMP_WAIT_POLICY=PASSIVE``, ``KMP_BLOCKTIME=0``), which OpenMP reads once, when the
library loads, so it must run before ``import torch``; the CLI calls it first thing.
A run's thread count defaults to the cores this process may run on (``os.sched_getaffinity``,
which honours taskset and cgroup cpusets), not to a count that follows the machine's load: the
thread count changes how a reduction is split, hence the last bits of the numbers (measured on
the digits demo: 1 and 2 threads differ from the first cycle's test loss on), and the same
command must give the same numbers. ``--threads auto`` (``free_cores``) trades that for
sharing: the available cores less the 1-minute load average. ``benchmarks/bench_concurrency.py``
measures two concurrent runs against two sequential ones.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_info, threadpool_limits

from tomoprune.errors import ConfigError

SOLVER_BLAS_THREADS = 1
# what OpenMP (libgomp, and Intel's libiomp through KMP_BLOCKTIME) reads when it loads
PASSIVE_WAITING = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
# set when the wait policy was in the environment before torch loaded its OpenMP runtime
POLICY_IN_FORCE = "TOMOPRUNE_WAIT_POLICY_IN_FORCE"


def prepare_thread_pools() -> dict[str, str]:
    """Ask OpenMP/MKL pools to sleep, not spin, when idle; a user's own setting wins.

    Effective only before torch (and its OpenMP runtime) is first imported in the process.
    Returns the values in force.
    """
    import sys

    for key, value in PASSIVE_WAITING.items():
        os.environ.setdefault(key, value)
    if "torch" not in sys.modules:  # recorded: the pools really read these values
        os.environ[POLICY_IN_FORCE] = "1"
    return {key: os.environ[key] for key in PASSIVE_WAITING}


def available_cores() -> int:
    """Cores this process may run on (affinity mask / cpuset), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def free_cores() -> int:
    """The available cores not already busy: ``available_cores()`` less the 1-minute load
    average (rounded), at least 1. Depends on the moment, so numbers may differ in the last bits
    from a run with another thread count."""
    cores = available_cores()
    try:
        busy = round(os.getloadavg()[0])
    except (AttributeError, OSError):
        busy = 0
    return max(1, min(cores, cores - busy))


def parse_threads(value: str | int | None) -> int | None:
    """``--threads`` as given: a positive count, "auto" (``free_cores()``), or None (default)."""
    if value is None or isinstance(value, int):
        count = value
    elif str(value).strip().lower() == "auto":
        return free_cores()
    else:
        try:
            count = int(value)
        except ValueError:
            count = 0
    if count is not None and count < 1:
        raise ConfigError(
            f"The '--threads' option must be a positive integer or auto. Got {value!r} instead."
        )
    return count


def _disable_mkl_dynamic() -> bool:
    """Ask the MKL inside libtorch for exactly the requested thread count (best effort)."""
    import torch

    if not torch.backends.mkl.is_available():
        return False
    library = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    try:
        ctypes.CDLL(str(library)).MKL_Set_Dynamic(ctypes.c_int(0))
    except (OSError, AttributeError):
        return False
    return True


def configure_threads(torch_threads: int | None = None) -> dict[str, Any]:
    """Set PyTorch's intra-op thread count (``None``: ``$OMP_NUM_THREADS`` when set, else
    ``available_cores()``) and turn MKL's
    dynamic threading off; return what was set (recorded in each run's config.json).

    Usable per worker by anything that runs several trainings at once: give each worker its
    share of the cores, e.g. ``configure_threads(max(1, available_cores() // workers))``.
    """
    import torch

    if torch_threads is not None and torch_threads < 1:
        raise ConfigError(
            f"The '--threads' option must be at least 1. Got {torch_threads} instead."
        )
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    elif not os.environ.get("OMP_NUM_THREADS"):  # the user's OMP_NUM_THREADS wins
        torch.set_num_threads(available_cores())
    os.environ.setdefault("MKL_DYNAMIC", "FALSE")  # for any MKL loaded later
    disabled = _disable_mkl_dynamic()
    # with dynamic threading off, MKL runs ~1.5x slower until the OpenMP pool has started once
    torch.ones(1 << 20).exp_()
    return {
        "torch_threads": torch.get_num_threads(),
        "mkl_dynamic_disabled": disabled,
        "solver_blas_threads": SOLVER_BLAS_THREADS,
        "requested": torch_threads,
        "available_cores": available_cores(),
        "wait_policy": {key: os.environ.get(key) for key in PASSIVE_WAITING},
        "wait_policy_set_before_torch": os.environ.get(POLICY_IN_FORCE) == "1",
    }


@contextlib.contextmanager
def solver_threads() -> Iterator[None]:
    """numpy/scipy BLAS limited to ``SOLVER_BLAS_THREADS`` while the block runs."""
    with threadpool_limits(limits=SOLVER_BLAS_THREADS, user_api="blas"):
        yield


def thread_report() -> list[dict[str, Any]]:
    """The thread pools loaded in this process (for run records)."""
    return [
        {k: pool.get(k) for k in ("user_api", "internal_api", "num_threads", "version")}
        for pool in threadpool_info()
    ]
