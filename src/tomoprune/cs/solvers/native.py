"""Native exact l1 solver ("native"): the lasso homotopy (LARS-lasso path) in numpy.

For DTC the problem is short and wide (``n`` about ``m / 10`` rows), so the solution has at most
``n`` non-zero coefficients and the path from ``w = 0`` reaches it in a few times ``n``
breakpoints (Osborne, Presnell & Turlach 2000; Efron et al. 2004). Each breakpoint costs one
product with ``A^T`` (``O(n m)``) and a rank-one update of the inverse of the active Gram matrix
(``O(k^2)``, BLAS ``dger`` in place). At DTC's sizes the cost is the number of numpy calls per
breakpoint rather than arithmetic, so the path keeps them few: the entry test for all ``m``
coefficients and both signs is one division and one ``argmax`` over ``2m`` slacks, with no
masking. A DTC-sized ray (``n = 51, m = 512``) costs 2-2.5 ms including forming ``A``, 26-30
times less than cvxpy with SCS, which also stops at ~1e-4 accuracy
(``benchmarks/bench_solver.py``). The algorithm is the one behind scikit-learn's
``LassoLars`` (registered as ``"lasso_lars"``), which serves as an independent check; this
implementation has less per-step overhead (2.7x faster at ``m = 512``, 1.7x at ``m = 2048``
and ``8192``) and accepts a warm start.

The path calls scipy's BLAS directly (``dgemv``, ``dger``, ``daxpy``, in place). numpy and
scipy each ship their own OpenBLAS; when both run more than one thread, the idle threads of
one spin against the other's work (a solve at ``m = 2048`` then takes 2-3 times longer on 2
cores). Solves are fastest with BLAS on one thread, as ``tomoprune.runtime.solver_threads``
sets it.

A warm start (e.g. the previous solution) is refined by feature-sign search (an active-set
method that can start anywhere); if that does not reach the optimum within ``min(n, m) + 10``
steps the path runs from zero as usual. The same search repairs the rare path that ends off
the optimum on degenerate data (duplicated or proportional columns); the status then says
``optimal_inaccurate`` unless the optimality conditions hold to ``1e-7``.

The path works on the equivalent scaled problem ``1/2 ||y - A w||^2 + alpha ||w||_1`` with
``alpha = lam / 2``. Along it the active correlations satisfy ``A_S^T (y - A w) = t s_S`` (``s``
the signs) while ``t`` decreases from ``||A^T y||_inf`` to ``alpha``; a coefficient enters when
its correlation reaches ``t`` and leaves when it crosses zero. At the end the active
coefficients are recomputed from the optimality conditions in one least-squares solve (polish),
which removes the rounding accumulated along the path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.linalg.blas import daxpy, dgemv, dger
from scipy.linalg.lapack import dpocon, dposv

from tomoprune.cs.solvers.base import RawSolution
from tomoprune.cs.solvers.registry import L1_SOLVERS

# A KKT violation below this (relative to alpha) counts as exactly optimal.
_KKT_RTOL = 1e-7
# A new column whose Schur complement is below this share of its squared norm is collinear with
# the active ones (only happens in degenerate, non-general-position data).
_PIVOT_RTOL = 1e-12
# Optimality is judged relative to max(alpha, this share of ||A^T y||_inf).
_SCALE_FLOOR = 1e-6
# Recompute the inverse Gram matrix and the correlations after this many active-set changes.
_REFRESH_EVERY = 200
# The polished point is kept unless its objective is worse than the path's by more than this.
_POLISH_RTOL = 1e-12
_EPS = float(np.finfo(float).eps)
# When a coefficient leaves, open slacks below this share of t are ties with it (degenerate data).
_TIE_RTOL = 1e-12
# What ends a path step.
_TARGET, _ENTER, _DROP = 0, 1, 2


@dataclass(frozen=True)
class HomotopyInfo:
    """Diagnostics of one path run."""

    breakpoints: int
    drops: int
    active: int
    kkt_violation: float  # max(|c_j| / alpha - 1) over all j, with signs checked on the support
    warm_start_used: bool


@L1_SOLVERS.register("native")
def solve_native(
    A: np.ndarray,
    y: np.ndarray,
    lam: float,
    *,
    warm_start: np.ndarray | None = None,
    max_iter: int | None = None,
) -> RawSolution:
    """Exact solve by the lasso homotopy; see the module docstring.

    Parameters
    ----------
    A, y, lam
        The problem ``min ||A w - y||^2 + lam ||w||_1``.
    warm_start : numpy.ndarray, optional
        Previous coefficients. Feature-sign search starts from them and, when it reaches the
        optimum within ``min(n, m) + 10`` steps, is the answer (a good guess costs a few
        least-squares solves); otherwise the path runs from zero as usual.
    max_iter : int, optional
        Cap on path breakpoints (default ``10 * min(n, m) + 100``).
    """
    coef, info = lasso_homotopy(A, y, lam, warm_start=warm_start, max_iter=max_iter)
    limit = _default_max_iter(A) if max_iter is None else max_iter
    if info.breakpoints >= limit and info.kkt_violation > _KKT_RTOL:
        status = "max_iterations"
    elif info.kkt_violation <= _KKT_RTOL:
        status = "optimal"
    else:
        status = "optimal_inaccurate"
    return RawSolution(coef=coef, iterations=info.breakpoints, status=status)


def lasso_homotopy(
    A: np.ndarray,
    y: np.ndarray,
    lam: float,
    *,
    warm_start: np.ndarray | None = None,
    max_iter: int | None = None,
) -> tuple[np.ndarray, HomotopyInfo]:
    """Run the homotopy and return ``(coef, info)``; see :func:`solve_native`.

    The path itself is :func:`_path`; its end point is then polished (the optimality
    conditions solved on its support) and, should the optimality conditions still fail
    (degenerate data), repaired by feature-sign search.
    """
    A = np.ascontiguousarray(A, dtype=float)
    y = np.asarray(y, dtype=float)
    n, m = A.shape
    alpha = lam / 2.0
    limit = _default_max_iter(A) if max_iter is None else int(max_iter)
    c = A.T @ y  # (m,) correlations A^T (y - A w) of the residual, here at w = 0

    t = float(np.abs(c).max()) if m else 0.0
    floor = _SCALE_FLOOR * t  # optimality is judged relative to max(alpha, floor)
    w = np.zeros(m)
    if t <= alpha or n == 0:
        return w, HomotopyInfo(0, 0, 0, _kkt_violation(A, y, alpha, w, floor), False)

    if warm_start is not None and np.any(warm_start):
        coef, steps, converged = _feature_sign(A, y, alpha, warm_start, min(n, m) + 10, floor)
        if converged:
            violation = _kkt_violation(A, y, alpha, coef, floor)
            return coef, HomotopyInfo(steps, 0, int(np.count_nonzero(coef)), violation, True)

    support, signs, coef, rows, breakpoints, drops = _path(A, y, alpha, c, limit)
    w = np.zeros(m)
    w[support] = coef
    polished = _polish(rows, y, alpha, signs) if support.size else None
    # keep the polished point unless it is worse by more than rounding (it nearly never is)
    if polished is not None:
        candidate = np.zeros(m)
        candidate[support] = polished
        if _half_objective(A, y, alpha, candidate) <= _half_objective(A, y, alpha, w) * (
            1.0 + _POLISH_RTOL
        ):
            w = candidate
    violation = _kkt_violation(A, y, alpha, w, floor)
    if violation > _KKT_RTOL:
        # degenerate data (e.g. duplicate columns) can leave the path off the optimum: repair
        repaired, steps, _ = _feature_sign(A, y, alpha, w, limit, floor)
        breakpoints += steps
        if _half_objective(A, y, alpha, repaired) <= _half_objective(A, y, alpha, w):
            w = repaired
            violation = _kkt_violation(A, y, alpha, w, floor)
    return w, HomotopyInfo(breakpoints, drops, int(np.count_nonzero(w)), violation, False)


def _path(
    A: np.ndarray, y: np.ndarray, alpha: float, c: np.ndarray, limit: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Follow the homotopy from ``w = 0`` (correlations ``c = A^T y``) down to ``alpha``.

    Returns ``(support, signs, coef, rows, breakpoints, drops)``: the active indices, their
    signs and coefficients, and ``rows`` (``(k, n)``, row ``i`` the column of ``A`` of
    ``support[i]``). The inverse ``H`` of the active Gram matrix is kept by rank-one block
    updates (``O(k^2)`` per event, BLAS ``dger`` in place) and recomputed every
    ``_REFRESH_EVERY`` events, together with the correlations, to stop rounding from
    accumulating.

    Both signs of every correlation are tracked side by side as slacks ``s[j] = t - c_j`` and
    ``s[m + j] = t + c_j``: a coefficient enters when one of its slacks reaches zero. Along a
    step of length ``g`` a slack falls by ``g * ascent`` with ``ascent = 1 -+ A^T A_S d``, so
    the first entry is at the largest positive ``ascent / s`` -- one pass over ``2m`` numbers
    with no masking. A slack is ``+inf`` (ratio 0, never first) while that side may not enter:
    the index is active or collinear with the active set, or its coefficient just left by it.
    """
    n, m = A.shape
    A_T = A.T  # (m, n) Fortran-ordered view: BLAS reads it in place
    cap = min(n, m)  # at most n coefficients are active in general position
    rows = np.zeros((cap, n))  # (cap, n): row i is the column of A of the i-th active index
    inv = np.zeros((cap, cap))  # inverse of the active Gram matrix rows[:k] @ rows[:k].T
    active = np.zeros(cap, dtype=np.intp)
    signs = np.zeros(cap)  # zero beyond the active block
    coef = np.zeros(cap)  # active coefficients, by position in the active set
    quotient = np.empty(cap)  # d / coef: a coefficient reaches zero at g = -1 / quotient
    padded = np.zeros(cap)  # scratch vector for BLAS, zero beyond the active block
    closed = np.zeros(m, dtype=bool)  # active or collinear: may not enter
    v = np.empty(m)  # (m,) A^T A_S d, how fast each correlation falls
    ascent = np.empty(2 * m)  # (2m,) how fast each slack falls: [1 - v, 1 + v]
    ascent_minus, ascent_plus = ascent[:m], ascent[m:]  # views, made once
    slack = np.empty(2 * m)  # (2m,) [t - c, t + c], +inf where entry is blocked
    ratio = np.empty(2 * m)  # (2m,) ascent / slack: one over the step that closes each slack
    entering = int(np.argmax(np.abs(c)))
    t = float(abs(c[entering]))
    entering_sign = 1.0 if c[entering] > 0 else -1.0
    _fill_slack(slack, c, t, closed)
    k = 0
    fresh = 0  # trailing active positions that entered at this point and still sit at zero
    held = None  # slacks of the side a coefficient just left by (and ties), blocked one step
    breakpoints = drops = events = 0

    with np.errstate(divide="ignore", invalid="ignore"):  # x/0 and 0/0 are screened
        while True:
            if entering >= 0:  # add column ``entering`` to the active set
                j, entering = entering, -1
                col = A[:, j]  # (n,)
                norm2 = schur = float(col @ col)
                if k:
                    # b = A_S^T a_j into padded[:k] (zero beyond), h = H b, schur = |a_j|^2 - b.h
                    dgemv(1.0, rows[:k].T, col, trans=1, y=padded[:k], overwrite_y=1)
                    h = dgemv(1.0, inv[:k].T, padded, trans=1)  # (k,)
                    schur -= float(padded[:k] @ h)
                closed[j] = True
                slack[j] = slack[m + j] = np.inf
                if schur > _PIVOT_RTOL * norm2:  # else collinear: closed, never enters
                    if k:  # inv[:k, :k] += outer(h, h / schur), in place on the rows inv[:k]
                        scaled = padded[:k]
                        np.divide(h, schur, out=scaled)
                        dger(1.0, padded, h, a=inv[:k].T, overwrite_a=1)
                        inv[:k, k] = inv[k, :k] = -scaled
                    inv[k, k] = 1.0 / schur
                    rows[k] = col
                    active[k], signs[k], coef[k] = j, entering_sign, 0.0
                    k += 1
                    fresh += 1
                    events += 1
                    if events % _REFRESH_EVERY == 0:
                        inv[:k, :k] = _inverse_spd(rows[:k] @ rows[:k].T)
                        _fill_slack(slack, A_T @ (y - coef[:k] @ rows[:k]), t, closed)
            if k == 0 or breakpoints >= limit:
                break

            breakpoints += 1
            d = dgemv(1.0, inv[:k].T, signs, trans=1)  # (k,) direction: H s (signs[k:] = 0)
            u = dgemv(1.0, rows[:k].T, d)  # (n,) = A_S d
            dgemv(1.0, A_T, u, y=v, overwrite_y=1)  # (m,) = A^T A_S d, in place
            gamma = t - alpha  # step that reaches the target
            event, index = _TARGET, -1
            # a coefficient leaves when coef_i + g d_i = 0 for some g > 0, i.e. d_i / coef_i < 0
            q = quotient[:k]
            np.divide(d, coef[:k], out=q)
            if fresh:  # coefficients that just entered sit at zero: they cannot leave yet
                q[k - fresh :] = np.inf
            pos = int(q.argmin())
            lowest = float(q[pos])
            if lowest != lowest:  # NaN: a coefficient at zero with d_i = 0 cannot leave
                np.putmask(q, np.isnan(q), np.inf)
                pos = int(q.argmin())
                lowest = float(q[pos])
            if lowest < 0.0 and -1.0 / lowest < gamma:
                gamma, event, index = -1.0 / lowest, _DROP, pos
            np.subtract(1.0, v, out=ascent_minus)
            np.add(1.0, v, out=ascent_plus)
            if k < cap:  # the first slack to close (only steps g > 0 count)
                np.divide(ascent, slack, out=ratio)
                i = int(ratio.argmax())
                best = float(ratio[i])
                if best != best:  # NaN from 0/0 (exact ties in degenerate data): ignore those
                    np.putmask(ratio, np.isnan(ratio), 0.0)
                    i = int(ratio.argmax())
                    best = float(ratio[i])
                if best > 0.0 and 1.0 / best < gamma:
                    gamma, event, index = 1.0 / best, _ENTER, i

            daxpy(d, coef[:k], a=gamma)  # coef_S += gamma d, in place
            daxpy(ascent, slack, a=-gamma)  # slack -= gamma ascent, in place
            t -= gamma
            if gamma > 0.0:
                fresh = 0
            if held is not None:  # those sides count again from here on: s[j] + s[m+j] = 2t
                slack[held] = 2.0 * t - slack[(held + m) % (2 * m)]
                held = None
            if event == _TARGET:
                break
            if event == _ENTER:
                entering = index if index < m else index - m
                entering_sign = 1.0 if index < m else -1.0
                continue
            # drop position ``index``: remove it from the active set and downdate the inverse
            drops += 1
            events += 1
            j = int(active[index])
            closed[j] = False
            # an active correlation is t times its sign: slack 0 on its side, 2t on the other.
            # The side it sits on is held for one step so that it does not re-enter at once,
            # together with any open side tied with it at zero (duplicate columns)
            side, other = (j, m + j) if signs[index] > 0 else (m + j, j)
            slack[side], slack[other] = 0.0, 2.0 * t
            held = np.flatnonzero(slack <= _TIE_RTOL * t)
            slack[held] = np.inf
            column = inv[:k, index].copy()  # (k,)
            np.divide(column, -inv[index, index], out=padded[:k])
            # inv[:k, :k] -= outer(column, column / pivot): row and column ``index`` -> 0
            dger(1.0, padded, column, a=inv[:k].T, overwrite_a=1)
            padded[:k] = 0.0
            inv[:k, index : k - 1] = inv[:k, index + 1 : k]
            inv[index : k - 1, : k - 1] = inv[index + 1 : k, : k - 1]
            rows[index : k - 1] = rows[index + 1 : k]
            active[index : k - 1] = active[index + 1 : k]
            signs[index : k - 1] = signs[index + 1 : k]
            signs[k - 1] = 0.0
            coef[index : k - 1] = coef[index + 1 : k]
            k -= 1
            if k == 0:  # numerically emptied: start again from the largest correlation
                c = A_T @ y
                entering = int(np.argmax(np.abs(c)))
                entering_sign = 1.0 if c[entering] > 0 else -1.0
                t = float(abs(c[entering]))
                _fill_slack(slack, c, t, closed)
                held = None
                fresh = 0
    return active[:k].copy(), signs[:k].copy(), coef[:k].copy(), rows[:k], breakpoints, drops


def _fill_slack(slack: np.ndarray, c: np.ndarray, t: float, closed: np.ndarray) -> None:
    """Write ``[t - c, t + c]`` into ``slack``, ``+inf`` on both sides of closed indices."""
    m = c.size
    np.subtract(t, c, out=slack[:m])
    np.add(t, c, out=slack[m:])
    np.putmask(slack[:m], closed, np.inf)
    np.putmask(slack[m:], closed, np.inf)


def _feature_sign(
    A: np.ndarray, y: np.ndarray, alpha: float, start: np.ndarray, max_iter: int, floor: float
) -> tuple[np.ndarray, int, bool]:
    """Feature-sign search (Lee, Battle, Raina & Ng 2007) from ``start``.

    An active-set method for the same problem that can begin anywhere: it guesses the signs of
    the solution, solves the optimality conditions on that support, and line-searches towards
    the answer over the points where a sign flips, so the objective falls at every step and the
    search ends at the optimum. Used to warm-start from a previous solution and to repair the
    path on degenerate data. Returns ``(coef, iterations, converged)``.
    """
    x = np.asarray(start, dtype=float).copy()
    theta = np.sign(x)  # guessed signs; a newly added coefficient is 0 with a sign
    aty = A.T @ y  # (m,)
    scale = max(alpha, floor)
    best = _half_objective(A, y, alpha, x)
    for iteration in range(1, max_iter + 1):
        c = aty - A.T @ (A @ x)  # (m,) correlations of the residual
        on = x != 0
        if np.max(np.abs(c[on] - alpha * theta[on]), initial=0.0) <= _KKT_RTOL * scale:
            off = np.where(on, -np.inf, np.abs(c))
            i = int(np.argmax(off))
            if off[i] <= alpha + _KKT_RTOL * scale:
                return x, iteration, True
            theta[i] = np.sign(c[i])
        support = np.flatnonzero(theta)
        cols = A[:, support]  # (n, k)
        gram = cols.T @ cols
        rhs = cols.T @ y - alpha * theta[support]
        target = _solve_gram(gram, rhs)
        current = x[support]
        # candidate points: the target, and every point on the way where a sign flips
        flips = (current != 0) & (np.sign(target) != np.sign(current))
        taus = np.concatenate([[1.0], current[flips] / (current[flips] - target[flips])])
        points = current + taus[:, None] * (target - current)  # (q, k)
        flip_pos = np.flatnonzero(flips)
        points[np.arange(1, taus.size), flip_pos] = 0.0  # exact zeros where a sign flips
        residuals = points @ cols.T - y  # (q, n)
        values = 0.5 * np.einsum("qn,qn->q", residuals, residuals)
        values += alpha * np.abs(points).sum(axis=1)
        pick = int(np.argmin(values))
        if values[pick] >= best:
            return x, iteration, False  # no progress possible (degenerate): stop here
        best = float(values[pick])
        x[support] = points[pick]
        theta = np.sign(x)
    return x, max_iter, False


def _inverse_spd(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix via its Cholesky factor."""
    try:
        factor = scipy.linalg.cho_factor(matrix, lower=True, check_finite=False)
        return scipy.linalg.cho_solve(factor, np.eye(matrix.shape[0]), check_finite=False)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(matrix, hermitian=True)


def _polish(rows: np.ndarray, y: np.ndarray, alpha: float, signs: np.ndarray) -> np.ndarray | None:
    """Solve ``A_S^T (y - A_S w_S) = alpha s`` for ``w_S``; None if signs come out wrong.

    ``rows`` is ``A_S^T`` (``(k, n)``, one active column per row).
    """
    w_s = _solve_gram(rows @ rows.T, rows @ y - alpha * signs)
    if np.any(np.sign(w_s) != signs):
        return None
    return w_s


def _solve_gram(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``gram @ x = rhs`` (Cholesky; least squares when the Gram matrix is singular).

    LAPACK ``posv`` and ``pocon`` directly: what ``scipy.linalg.solve(assume_a="pos")`` does,
    without its per-call overhead. A failed factorisation or a reciprocal condition number
    below machine epsilon (where scipy would warn) falls back to least squares.
    """
    factor, x, info = dposv(gram, rhs)
    if info == 0:
        rcond, info = dpocon(factor, float(np.abs(gram).sum(axis=0).max()))
        if info == 0 and rcond >= _EPS:
            return x
    return np.linalg.lstsq(gram, rhs, rcond=None)[0]


def _kkt_violation(
    A: np.ndarray, y: np.ndarray, alpha: float, w: np.ndarray, floor: float
) -> float:
    """Largest breach of the optimality conditions relative to ``max(alpha, floor)``.

    Conditions: ``|c_j| <= alpha`` everywhere and ``c_j = alpha sign(w_j)`` on the support,
    with ``c = A^T (y - A w)``; 0 at an exact solution. ``floor`` keeps the measure meaningful
    when ``alpha`` is 0 (plain least squares).
    """
    scale = max(alpha, floor)
    if scale == 0.0:
        return 0.0
    c = A.T @ (y - A @ w)
    signs = np.sign(w)
    breach = np.abs(c - alpha * signs)  # on the support: |c_j - alpha s_j|; off it: |c_j|
    breach -= np.where(signs == 0.0, alpha, 0.0)  # off the support: |c_j| - alpha
    return max(float(breach.max(initial=0.0)), 0.0) / scale


def _half_objective(A: np.ndarray, y: np.ndarray, alpha: float, w: np.ndarray) -> float:
    r = A @ w - y
    return 0.5 * float(r @ r) + alpha * float(np.abs(w).sum())


def _default_max_iter(A: np.ndarray) -> int:
    return 10 * min(A.shape) + 100
