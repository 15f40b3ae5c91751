"""Thread pools, set deliberately: reproducible numbers and no fight over the cores.

PyTorch's CPU matmuls run on MKL, which by default may use fewer threads than asked for when
the machine is busy ("dynamic" threading); a different split of a reduction changes the last
bits of a result, so a run could give different numbers under load. ``configure_threads``
turns that off. numpy/scipy's OpenBLAS serves only the small compressed-sensing solves, which
are fastest on one thread (see benchmarks/results); giving it more threads makes it compete
with PyTorch's OpenMP pool for the same cores.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from threadpoolctl import threadpool_info, threadpool_limits

SOLVER_BLAS_THREADS = 1


def _disable_mkl_dynamic() -> bool:
    """Ask the MKL inside libtorch for exactly the requested thread count (best effort)."""
    if not torch.backends.mkl.is_available():
        return False
    library = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    try:
        ctypes.CDLL(str(library)).MKL_Set_Dynamic(ctypes.c_int(0))
    except (OSError, AttributeError):
        return False
    return True


def configure_threads(torch_threads: int | None = None) -> dict[str, Any]:
    """Fix PyTorch's thread count and MKL's dynamic threading; return what was set."""
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    os.environ.setdefault("MKL_DYNAMIC", "FALSE")  # for any MKL loaded later
    disabled = _disable_mkl_dynamic()
    # with dynamic threading off, MKL runs ~1.5x slower until the OpenMP pool has started once
    torch.ones(1 << 20).exp_()
    return {
        "torch_threads": torch.get_num_threads(),
        "mkl_dynamic_disabled": disabled,
        "solver_blas_threads": SOLVER_BLAS_THREADS,
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
