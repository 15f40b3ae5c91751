"""Weight-level inverse compressed sensing: reconstruct a whole layer from few measurements.

Where DTC compresses one number per neuron (a weight ray), this measures the flattened weight
matrix itself, ``x = vec(W)`` of length ``m = units * inputs``, with ``n = fraction * m``
structured random measurements ``y = S x`` (:class:`~tomoprune.cs.operators.SubsampledDCTOperator`:
random signs, DCT-II, random rows), and reconstructs it as ``x_hat = Psi w_hat`` from::

    w_hat = argmin_w ||S Psi w - y||_2^2 + lam ||w||_1

with ``Psi`` an orthonormal DCT synthesis. Both ``S`` and ``Psi`` are fast transforms, so no
``n x m`` or ``m x m`` matrix exists at any point; a 784 x 512 layer (``m = 401,408``) takes a
few hundred ``O(m log m)`` transforms and tens of megabytes. The solve is FISTA (Beck & Teboulle
2009) with adaptive restart (O'Donoghue & Candès 2015) and the exact step ``1 / L``, ``L = 2
||S||^2 = 2 m / n`` (the rows of ``S`` are orthogonal), stopped on the relative duality gap.

Scores come from the reconstruction ``x_hat`` reshaped like ``W``: per neuron the l2 norm of its
row (``granularity="neuron"``), or per weight its magnitude (``granularity="weight"``). As for
every scorer in tomoprune, a lower score means less important.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np

from tomoprune.cs.bases import BASES, Basis, get_basis
from tomoprune.cs.operators import SubsampledDCTOperator
from tomoprune.cs.solvers.base import _gap_from_residual
from tomoprune.errors import ConfigError

Granularity = Literal["neuron", "weight"]


def weight_level_scores(
    weight: np.ndarray,
    *,
    fraction: float = 0.1,
    lam: float | None = None,
    lam_ratio: float = 0.1,
    seed: int = 0,
    max_iter: int = 500,
    tol: float = 1e-4,
    granularity: Granularity = "neuron",
    basis: str = "dct2",
) -> tuple[np.ndarray, dict[str, Any]]:
    """Score a layer's neurons (rows) or weights from its compressed-sensing reconstruction.

    Parameters
    ----------
    weight : numpy.ndarray
        ``(units, inputs)`` weight matrix (rows are neurons, as in ``torch.nn.Linear.weight``).
    fraction : float
        Share of ``m = weight.size`` to measure, in (0, 1]; ``n = max(1, round(fraction * m))``.
    lam : float, optional
        l1 weight in ``||A w - y||^2 + lam ||w||_1``. Default: ``lam_ratio * lam_max``, where
        ``lam_max = 2 ||A^T y||_inf`` is the smallest weight giving ``w = 0``.
    lam_ratio : float
        Used only when ``lam`` is None.
    seed : int
        Seed of the structured measurement (signs and kept rows).
    max_iter : int
        FISTA iteration cap (status ``max_iterations`` when reached before ``tol``).
    tol : float
        Stop once the duality gap is at most ``tol`` times the objective.
    granularity : {"neuron", "weight"}
        ``(units,)`` row norms of the reconstruction, or ``(units, inputs)`` magnitudes.
    basis : str
        Orthonormal sparsifying basis ``Psi``, a name in ``tomoprune.cs.bases.BASES``
        (random_orthogonal only for small layers). DCT-II is the default because its fast transform
        is ~15x quicker at lengths like 401,408; DCT-I is the basis DTC uses for weight rays.

    Returns
    -------
    scores : numpy.ndarray
        ``(units,)`` or ``(units, inputs)``, lower = less important.
    info : dict
        ``n``, ``m``, ``lam``, ``lam_max``, ``iterations``, ``objective``, ``duality_gap``,
        ``status``, ``seconds``, ``relative_error`` (``||x_hat - x|| / ||x||``),
        ``nonzero_coefficients``, ``basis``, ``seed``.
    """
    weight = np.asarray(weight, dtype=float)
    if weight.ndim != 2 or weight.size == 0:
        raise ConfigError(
            f"weight_level_scores needs a non-empty 2-D (units, inputs) weight matrix. "
            f"Got shape {weight.shape} instead."
        )
    if granularity not in ("neuron", "weight"):
        raise ConfigError(
            f"The 'granularity' parameter must be one of neuron, weight. Got {granularity!r} "
            f"instead."
        )
    if basis not in BASES:
        raise ConfigError(
            f"The 'basis' parameter must be one of {', '.join(BASES.names())}. Got {basis!r}."
        )
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"The measurement fraction must be in (0, 1]. Got {fraction!r} instead.")
    start = time.perf_counter()
    x = weight.ravel()  # (m,)
    m = x.size
    n = max(1, round(fraction * m))
    sensing = SubsampledDCTOperator.from_seed(m=m, n=n, seed=seed)
    y = sensing.matvec(x)  # (n,)
    problem = _LayerProblem(sensing, get_basis(basis, m, seed))
    lam_max = 2.0 * float(np.abs(problem.adjoint(y)).max())
    lam_used = lam_ratio * lam_max if lam is None else float(lam)
    if not np.isfinite(lam_used) or lam_used < 0:
        raise ConfigError(f"The l1 weight lam must be a finite number >= 0. Got {lam_used!r}.")
    coef, iterations, obj, gap, status = fista_l1(problem, y, lam_used, max_iter=max_iter, tol=tol)
    x_hat = problem.synthesis(coef).reshape(weight.shape)  # (units, inputs)
    # (units,) row norms, or (units, inputs) magnitudes
    scores = np.linalg.norm(x_hat, axis=1) if granularity == "neuron" else np.abs(x_hat)
    norm_x = float(np.linalg.norm(x))
    info = {
        "n": n,
        "m": m,
        "lam": lam_used,
        "lam_max": lam_max,
        "iterations": iterations,
        "objective": obj,
        "duality_gap": gap,
        "status": status,
        "seconds": time.perf_counter() - start,
        "relative_error": float(np.linalg.norm(x_hat - weight)) / norm_x if norm_x else 0.0,
        "nonzero_coefficients": int(np.count_nonzero(coef)),
        "basis": basis,
        "seed": seed,
    }
    return scores, info


class _LayerProblem:
    """``A = S Psi`` with both factors fast: ``forward(w) = S Psi w``, ``adjoint(r) = Psi^T S^T r``."""

    def __init__(self, sensing: SubsampledDCTOperator, basis: Basis) -> None:
        self.sensing = sensing
        self.basis = basis
        self.norm = sensing.norm  # Psi is orthonormal, so ||S Psi|| = ||S||

    def synthesis(self, w: np.ndarray) -> np.ndarray:
        return self.basis.synthesis(w, -1)

    def analysis(self, x: np.ndarray) -> np.ndarray:
        return self.basis.analysis(x, -1)

    def forward(self, w: np.ndarray) -> np.ndarray:
        return self.sensing.matvec(self.synthesis(w))

    def adjoint(self, r: np.ndarray) -> np.ndarray:
        return self.analysis(self.sensing.rmatvec(r))


def fista_l1(
    problem: Any,
    y: np.ndarray,
    lam: float,
    *,
    max_iter: int,
    tol: float,
    check_every: int = 10,
) -> tuple[np.ndarray, int, float, float, str]:
    """FISTA with adaptive restart for ``||A w - y||^2 + lam ||w||_1``, matrix-free.

    ``problem`` supplies ``forward`` (``A w``), ``adjoint`` (``A^T r``) and ``norm``
    (``||A||_2``). The duality gap (residual scaling, as for the exact solvers) is evaluated
    every ``check_every`` iterations and at the end.

    Returns
    -------
    tuple
        ``(coef, iterations, objective, duality_gap, status)``.
    """
    step = 1.0 / (2.0 * problem.norm**2)  # 1 / L for the gradient 2 A^T (A w - y)
    w = np.zeros_like(problem.adjoint(y))
    z = w.copy()
    t = 1.0
    iterations = 0
    obj = gap = float(y @ y)
    status = "max_iterations"
    for iterations in range(1, max_iter + 1):
        grad = 2.0 * problem.adjoint(problem.forward(z) - y)
        w_new = _soft_threshold(z - step * grad, step * lam)
        if (z - w_new) @ (w_new - w) > 0:  # momentum points uphill: restart it
            t = 1.0
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        z = w_new + ((t - 1.0) / t_new) * (w_new - w)
        w, t = w_new, t_new
        if iterations % check_every == 0 or iterations == max_iter:
            obj, gap = _objective_and_gap(problem, y, lam, w)
            if gap <= tol * obj:
                status = "optimal"
                break
    return w, iterations, obj, gap, status


def _objective_and_gap(
    problem: Any, y: np.ndarray, lam: float, w: np.ndarray
) -> tuple[float, float]:
    r = y - problem.forward(w)
    l1 = float(np.abs(w).sum())
    gap = _gap_from_residual(problem.adjoint(r), r, y, lam, l1)
    return float(r @ r) + lam * l1, gap


def _soft_threshold(v: np.ndarray, threshold: float) -> np.ndarray:
    return np.sign(v) * np.maximum(np.abs(v) - threshold, 0.0)
