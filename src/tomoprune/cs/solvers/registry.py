"""Name -> l1 solver table and the one entry point, :func:`solve_l1`."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tomoprune.cs.solvers.base import (
    STATUSES,
    L1Result,
    L1Solver,
    duality_gap,
    objective,
    validate_problem,
)
from tomoprune.errors import SolverError
from tomoprune.registry import Registry

L1_SOLVERS: Registry[L1Solver] = Registry("l1 solver")


def load_builtin_solvers() -> None:
    """Import the built-in backends so that they register themselves."""
    import tomoprune.cs.solvers.cvxpy_adapter  # noqa: F401
    import tomoprune.cs.solvers.lars  # noqa: F401
    import tomoprune.cs.solvers.native  # noqa: F401


def solver_names() -> list[str]:
    load_builtin_solvers()
    return L1_SOLVERS.names()


def solve_l1(
    A: np.ndarray,
    y: np.ndarray,
    lam: float,
    *,
    solver: str = "scs",
    warm_start: np.ndarray | None = None,
    **options: Any,
) -> L1Result:
    """Solve ``min_w ||A w - y||_2^2 + lam ||w||_1`` with the named backend.

    Parameters
    ----------
    A : numpy.ndarray
        ``(n, m)`` matrix (for DTC ``Phi Psi``, see
        :func:`tomoprune.cs.operators.sensing_times_basis`).
    y : numpy.ndarray
        ``(n,)`` measurements.
    lam : float
        l1 weight, ``>= 0`` (the published experiment used 0.3).
    solver : str
        Registry name: ``"native"`` (exact homotopy, fastest for ``n << m``), ``"scs"``
        (cvxpy + SCS with default settings, as published), ``"clarabel"`` (cvxpy +
        Clarabel, interior point, accurate), ``"lasso_lars"`` (scikit-learn LassoLars).
    warm_start : numpy.ndarray, optional
        ``(m,)`` starting coefficients, e.g. the previous cycle's solution; backends that cannot
        use one ignore it.
    **options
        Passed to the backend (e.g. ``max_iter`` for ``native``, solver settings for cvxpy).

    Returns
    -------
    L1Result
        Coefficients with objective and duality gap recomputed here, identically for every
        backend.

    Raises
    ------
    ConfigError
        Unknown solver name or malformed problem data.
    SolverError
        The backend is missing, crashed, or returned no usable solution.
    """
    load_builtin_solvers()
    backend = L1_SOLVERS.get(solver)
    A, y, lam = validate_problem(A, y, lam)
    if warm_start is not None:
        warm_start = np.asarray(warm_start, dtype=float)
        if warm_start.shape != (A.shape[1],):
            warm_start = None  # a previous cycle at another width cannot seed this one
    start = time.perf_counter()
    raw = backend(A, y, lam, warm_start=warm_start, **options)
    seconds = time.perf_counter() - start
    coef = np.asarray(raw.coef, dtype=float).reshape(-1)
    if coef.shape != (A.shape[1],) or not np.all(np.isfinite(coef)):
        raise SolverError(
            f"l1 solver {solver!r} returned no finite solution of length {A.shape[1]}; "
            f"try solver='native' or 'clarabel'."
        )
    if raw.status not in STATUSES:
        raise AssertionError(f"backend {solver!r} reported unmapped status {raw.status!r}")
    return L1Result(
        coef=coef,
        objective=objective(A, y, lam, coef),
        duality_gap=duality_gap(A, y, lam, coef),
        iterations=int(raw.iterations),
        status=raw.status,
        solver=solver,
        seconds=seconds,
    )
