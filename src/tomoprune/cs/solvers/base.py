"""The l1 problem every solver answers, its result type, and solver-independent checks.

All solvers minimise the objective of the published DTC experiment (no 1/2 factor)::

    F(w) = ||A w - y||_2^2 + lam * ||w||_1

Objective and duality gap are recomputed here from the returned coefficients, the same way for
every solver, so that results of different backends can be compared number for number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from tomoprune.errors import ConfigError

Status = Literal["optimal", "optimal_inaccurate", "max_iterations", "failed"]
STATUSES: tuple[str, ...] = ("optimal", "optimal_inaccurate", "max_iterations", "failed")


@dataclass(frozen=True)
class L1Result:
    """Solution of ``min_w ||A w - y||^2 + lam ||w||_1`` and how it was obtained.

    Attributes
    ----------
    coef : numpy.ndarray
        ``(m,)`` minimiser found.
    objective : float
        ``F(coef)`` recomputed in float64.
    duality_gap : float
        ``F(coef) - D(theta) >= 0`` for the dual-feasible point built from the residual
        (see :func:`duality_gap`); an upper bound on ``F(coef) - min F``.
    iterations : int
        Backend iterations (path breakpoints for the homotopy solvers).
    status : str
        One of ``optimal``, ``optimal_inaccurate``, ``max_iterations``, ``failed``.
    solver : str
        Registry name of the solver that produced it.
    seconds : float
        Wall time of the solve (not of input validation or gap computation).
    """

    coef: np.ndarray
    objective: float
    duality_gap: float
    iterations: int
    status: str
    solver: str
    seconds: float


@dataclass(frozen=True)
class RawSolution:
    """What a backend hands back before objective and gap are recomputed."""

    coef: np.ndarray
    iterations: int
    status: str


class L1Solver(Protocol):
    """A registered backend: ``solver(A, y, lam, warm_start=..., **options) -> RawSolution``."""

    def __call__(
        self,
        A: np.ndarray,
        y: np.ndarray,
        lam: float,
        *,
        warm_start: np.ndarray | None = None,
        **options: Any,
    ) -> RawSolution: ...


def objective(A: np.ndarray, y: np.ndarray, lam: float, w: np.ndarray) -> float:
    """``||A w - y||_2^2 + lam ||w||_1``."""
    r = A @ w - y
    return float(r @ r + lam * np.abs(w).sum())


def duality_gap(A: np.ndarray, y: np.ndarray, lam: float, w: np.ndarray) -> float:
    """Duality gap of ``w`` via residual scaling.

    The dual of ``F`` is ``D(theta) = ||y||^2 - ||y - theta||^2`` subject to
    ``||A^T theta||_inf <= lam / 2``. With the residual ``r = y - A w`` the point
    ``theta = s r`` is feasible for ``|s| <= lam / (2 ||A^T r||_inf)``; ``s`` is chosen to
    maximise ``D`` within that range (``s = 1`` at the optimum). Weak duality makes the
    returned value an upper bound on the suboptimality of ``w``.
    """
    r = y - A @ w
    return _gap_from_residual(A.T @ r, r, y, lam, float(np.abs(w).sum()))


def _gap_from_residual(
    corr: np.ndarray, r: np.ndarray, y: np.ndarray, lam: float, w_l1: float
) -> float:
    """Gap given ``corr = A^T r`` (lets matrix-free callers supply the product)."""
    rr = float(r @ r)
    primal = rr + lam * w_l1
    if rr == 0.0:
        return max(primal, 0.0)
    corr_max = float(np.abs(corr).max()) if corr.size else 0.0
    s_max = np.inf if corr_max == 0.0 else lam / (2.0 * corr_max)
    s = float(np.clip((y @ r) / rr, -s_max, s_max))
    dual = 2.0 * s * float(y @ r) - s * s * rr
    return max(primal - dual, 0.0)


def lambda_max(A: np.ndarray, y: np.ndarray) -> float:
    """Smallest ``lam`` for which ``w = 0`` is optimal: ``2 ||A^T y||_inf``."""
    return 2.0 * float(np.abs(A.T @ y).max())


def validate_problem(A: Any, y: Any, lam: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """Return float64 ``A`` (2-D), ``y`` (1-D) and ``lam``; raise ConfigError otherwise."""
    A = np.asarray(A, dtype=float)
    y = np.asarray(y, dtype=float)
    if A.ndim != 2:
        raise ConfigError(f"The l1 problem matrix A must be 2-D. Got shape {A.shape} instead.")
    if y.shape != (A.shape[0],):
        raise ConfigError(
            f"The l1 problem needs y of shape ({A.shape[0]},) to match A {A.shape}. "
            f"Got {y.shape} instead."
        )
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(y))):
        raise ConfigError("The l1 problem data A and y must be finite; found NaN or inf.")
    lam = float(lam)
    if not np.isfinite(lam) or lam < 0:
        raise ConfigError(f"The l1 weight lam must be a finite number >= 0. Got {lam!r} instead.")
    return A, y, lam
