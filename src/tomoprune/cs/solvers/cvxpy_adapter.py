"""cvxpy backends ("scs", "clarabel"): the formulation of the published experiment.

The problem is stated exactly as the published DTC code stated it::

    cp.Problem(cp.Minimize(cp.sum_squares(A @ w - y) + lam * cp.norm1(w))).solve(solver=cp.SCS)

with the solver's default settings unless options are given, so that the reference profile
reproduces the published numbers (SCS is a first-order method: its answers carry ~1e-4 noise in
coefficients that are exactly zero at the optimum). cvxpy is imported only when used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tomoprune.cs.solvers.base import RawSolution
from tomoprune.cs.solvers.registry import L1_SOLVERS
from tomoprune.errors import SolverError

# cvxpy status string -> our vocabulary (anything else is a failure)
_STATUS_MAP = {
    "optimal": "optimal",
    "optimal_inaccurate": "optimal_inaccurate",
    "user_limit": "max_iterations",
}


def map_status(cvxpy_status: str | None) -> str:
    """Map a cvxpy status onto ``optimal``/``optimal_inaccurate``/``max_iterations``/``failed``."""
    return _STATUS_MAP.get(str(cvxpy_status), "failed")


def _import_cvxpy() -> Any:
    try:
        import cvxpy as cp
    except ImportError as exc:  # pragma: no cover - in the dev environment
        raise SolverError(
            f"cvxpy is not importable ({exc}); install it with `pip install 'tomoprune[cs]'` "
            "or use solver='native'."
        ) from None
    return cp


def solve_with_cvxpy(
    A: np.ndarray,
    y: np.ndarray,
    lam: float,
    *,
    backend: str,
    warm_start: np.ndarray | None = None,
    **options: Any,
) -> RawSolution:
    """Solve the l1 problem with cvxpy and the named conic backend (``"SCS"``, ``"CLARABEL"``)."""
    cp = _import_cvxpy()
    if backend not in cp.installed_solvers():
        raise SolverError(
            f"cvxpy backend {backend} is not installed; `pip install {backend.lower()}` or use "
            f"solver='native'."
        )
    w = cp.Variable(A.shape[1])
    problem = cp.Problem(cp.Minimize(cp.sum_squares(A @ w - y) + lam * cp.norm1(w)))
    if warm_start is not None:
        w.value = warm_start
        options = {"warm_start": True, **options}
    try:
        problem.solve(solver=getattr(cp, backend), **options)
    except cp.error.SolverError as exc:
        raise SolverError(
            f"cvxpy/{backend} failed on the l1 problem ({exc}); try solver='native' or 'clarabel'."
        ) from None
    except (TypeError, ValueError) as exc:
        raise SolverError(
            f"cvxpy/{backend} rejected the options {sorted(options)} ({exc}); check the "
            f"solver option names."
        ) from None
    status = map_status(problem.status)
    if status == "failed" or w.value is None:
        raise SolverError(
            f"cvxpy/{backend} ended with status {problem.status!r} and no solution; try "
            f"solver='native' or 'clarabel'."
        )
    stats = problem.solver_stats
    iterations = int(stats.num_iters) if stats is not None and stats.num_iters is not None else 0
    return RawSolution(coef=np.asarray(w.value, dtype=float), iterations=iterations, status=status)


@L1_SOLVERS.register("scs")
def solve_scs(
    A: np.ndarray,
    y: np.ndarray,
    lam: float,
    *,
    warm_start: np.ndarray | None = None,
    **options: Any,
) -> RawSolution:
    """cvxpy + SCS with default settings (the published solver)."""
    return solve_with_cvxpy(A, y, lam, backend="SCS", warm_start=warm_start, **options)


@L1_SOLVERS.register("clarabel")
def solve_clarabel(
    A: np.ndarray,
    y: np.ndarray,
    lam: float,
    *,
    warm_start: np.ndarray | None = None,
    **options: Any,
) -> RawSolution:
    """cvxpy + Clarabel (interior point; accurate to ~1e-8, used as the test oracle)."""
    # Clarabel has no warm start; cvxpy would ignore it, so it is not passed on.
    return solve_with_cvxpy(A, y, lam, backend="CLARABEL", **options)
