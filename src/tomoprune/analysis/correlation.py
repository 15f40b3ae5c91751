"""Correlation of two per-cycle series, and controls that ask whether it means anything.

Two series recorded over the same cycles (e.g. Gibbs entropy and test accuracy) both trend with
sparsity, so a high Pearson r alone says little. The controls here are:

* a permutation p-value (exchangeable cycles; optimistic when both series trend),
* a moving-block bootstrap confidence interval (keeps short-range dependence),
* the correlation of cycle-to-cycle differences (removes the shared trend),
* the partial correlation given sparsity (residualises both series on a polynomial in it).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats
from statsmodels.regression.linear_model import OLS

from tomoprune.analysis.smoothing import lowess
from tomoprune.errors import ConfigError

METHODS = ("pearson", "spearman")
MIN_PAIRS = 3


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ConfigError(
            f"The correlation 'method' must be one of {list(METHODS)}. Got {method!r} instead."
        )


@dataclass(frozen=True, kw_only=True)
class CorrelationResult:
    """A correlation and the cycles it rests on; ``r`` is None (never NaN) when undefined."""

    method: str
    r: float | None
    p_value: float | None
    n_used: int
    n_dropped: int
    dropped_cycles: tuple[int, ...] = ()
    smoothed: tuple[bool, bool] = (False, False)
    frac: float | None = None
    undefined_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class PermutationResult:
    """Two-sided permutation p-value of a correlation (pairings permuted, seeded)."""

    method: str
    r: float | None
    p_value: float | None
    n_resamples: int
    undefined_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class BootstrapResult:
    """Percentile confidence interval of a correlation from a moving-block bootstrap."""

    method: str
    r: float | None
    low: float | None
    high: float | None
    confidence: float
    block_length: int
    n_resamples: int
    n_valid: int
    undefined_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class PartialResult:
    """Pearson correlation of the residuals of both series after an OLS fit on sparsity."""

    r: float | None
    p_value: float | None
    n_used: int
    degree: int
    dof: int
    undefined_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def row_correlation(a: np.ndarray, b: np.ndarray, method: str = "pearson") -> np.ndarray:
    """Correlation of matching rows of ``a`` and ``b`` (broadcast), NaN for a constant row.

    Parameters
    ----------
    a, b : numpy.ndarray, shape (..., n)
        Series along the last axis.
    method : {"pearson", "spearman"}
    """
    _check_method(method)
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if method == "spearman":
        a = stats.rankdata(a, axis=-1)
        b = stats.rankdata(b, axis=-1)
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    num = (a * b).sum(axis=-1)
    den = np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
    r = np.where(den > 1e-300, r, np.nan)
    return np.clip(r, -1.0, 1.0)


def _is_constant(x: np.ndarray) -> bool:
    return bool(np.ptp(x) == 0.0) if x.size else True


def _scipy_corr(a: np.ndarray, b: np.ndarray, method: str) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.pearsonr(a, b) if method == "pearson" else stats.spearmanr(a, b)
    return float(res.statistic), float(res.pvalue)


def correlate(
    a: np.ndarray,
    b: np.ndarray,
    *,
    method: str = "pearson",
    cycles: np.ndarray | None = None,
    x: np.ndarray | None = None,
    smooth_a: bool = False,
    smooth_b: bool = False,
    frac: float = 0.3,
) -> CorrelationResult:
    """Correlation between two per-cycle series, dropping cycles where either is undefined.

    Parameters
    ----------
    a, b : array_like, shape (n,)
        The two series; NaN marks an undefined cycle.
    method : {"pearson", "spearman"}
    cycles : array_like of int, optional
        Cycle numbers, used only to name the dropped cycles (default 1..n).
    x : array_like, shape (n,), optional
        Abscissa for LOWESS (sparsity); required when smoothing.
    smooth_a, smooth_b : bool
        Replace the series by its LOWESS fit against ``x`` first. Each series is smoothed on
        its own defined cycles, then the pairs are formed.
    frac : float
        LOWESS span (paper: 0.3).
    """
    _check_method(method)
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"correlate needs two series of one length, got {a.shape}, {b.shape}")
    cycles = np.arange(1, a.size + 1) if cycles is None else np.asarray(cycles)
    if (smooth_a or smooth_b) and x is None:
        raise ValueError("correlate: smoothing needs x (the sparsity of each cycle)")
    if smooth_a:
        a = lowess(x, a, frac)
    if smooth_b:
        b = lowess(x, b, frac)
    keep = np.isfinite(a) & np.isfinite(b)
    dropped = tuple(int(c) for c in cycles[~keep])
    common = {
        "method": method,
        "n_used": int(keep.sum()),
        "n_dropped": len(dropped),
        "dropped_cycles": dropped,
        "smoothed": (bool(smooth_a), bool(smooth_b)),
        "frac": frac if (smooth_a or smooth_b) else None,
    }
    reason = undefined_reason(a[keep], b[keep])
    if reason:
        return CorrelationResult(r=None, p_value=None, undefined_reason=reason, **common)
    r, p = _scipy_corr(a[keep], b[keep], method)
    return CorrelationResult(r=r, p_value=p, **common)


def undefined_reason(a: np.ndarray, b: np.ndarray) -> str | None:
    """Why a correlation of these (already paired, finite) series cannot be computed, or None."""
    if a.size < MIN_PAIRS:
        return f"only {a.size} cycles where both series are defined (need {MIN_PAIRS})"
    if _is_constant(a) or _is_constant(b):
        return "one series is constant over the cycles used"
    return None


def permutation_pvalue(
    a: np.ndarray,
    b: np.ndarray,
    *,
    method: str = "pearson",
    n_resamples: int = 2000,
    rng: np.random.Generator,
) -> PermutationResult:
    """Two-sided permutation test of zero correlation (``scipy.stats.permutation_test``).

    Permuting the pairing treats the cycles as exchangeable. Two series that both trend with
    sparsity are not, so a small p-value here is necessary, not sufficient, evidence.
    """
    _check_method(method)
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    reason = undefined_reason(a, b)
    if reason:
        return PermutationResult(
            method=method, r=None, p_value=None, n_resamples=n_resamples, undefined_reason=reason
        )

    def statistic(perm_a: np.ndarray, axis: int) -> np.ndarray:
        return row_correlation(np.moveaxis(perm_a, axis, -1), b, method)

    res = stats.permutation_test(
        (a,),
        statistic,
        permutation_type="pairings",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        rng=rng,
    )
    return PermutationResult(
        method=method,
        r=float(res.statistic),
        p_value=float(res.pvalue),
        n_resamples=n_resamples,
    )


def default_block_length(n: int) -> int:
    """``round(n ** (1/3))``, at least 2: the usual order for a moving-block bootstrap."""
    return max(2, round(n ** (1.0 / 3.0)))


def block_bootstrap_ci(
    a: np.ndarray,
    b: np.ndarray,
    *,
    method: str = "pearson",
    n_resamples: int = 2000,
    block_length: int | None = None,
    confidence: float = 0.95,
    rng: np.random.Generator,
) -> BootstrapResult:
    """Moving-block bootstrap percentile interval for the correlation of paired series.

    Each resample concatenates blocks of ``block_length`` consecutive cycle pairs, starting at
    uniformly drawn positions, cut to the original length, so neighbouring cycles stay together.
    Resamples where a series is constant are left out (``n_valid`` counts the rest).
    """
    _check_method(method)
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"The 'confidence' level must be in (0, 1). Got {confidence}.")
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    n = a.size
    length = default_block_length(n) if block_length is None else int(block_length)
    if length < 1:
        raise ConfigError(f"The 'block_length' must be a positive integer. Got {block_length}.")
    common = {
        "method": method,
        "confidence": confidence,
        "block_length": length,
        "n_resamples": n_resamples,
    }
    reason = undefined_reason(a, b)
    if reason is None and length > n:
        reason = f"block length {length} exceeds the {n} cycles available"
    if reason:
        return BootstrapResult(
            r=None, low=None, high=None, n_valid=0, undefined_reason=reason, **common
        )
    n_blocks = math.ceil(n / length)
    starts = rng.integers(0, n - length + 1, size=(n_resamples, n_blocks))
    idx = (starts[:, :, None] + np.arange(length)[None, None, :]).reshape(n_resamples, -1)[:, :n]
    rs = row_correlation(a[idx], b[idx], method)
    rs = rs[np.isfinite(rs)]
    r = float(row_correlation(a, b, method))
    if rs.size == 0:
        return BootstrapResult(
            r=r,
            low=None,
            high=None,
            n_valid=0,
            undefined_reason="every resample had a constant series",
            **common,
        )
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(rs, [tail, 1.0 - tail])
    return BootstrapResult(r=r, low=float(low), high=float(high), n_valid=int(rs.size), **common)


def difference_correlation(
    a: np.ndarray, b: np.ndarray, *, method: str = "pearson", cycles: np.ndarray | None = None
) -> CorrelationResult:
    """Correlation of the cycle-to-cycle changes ``diff(a)`` and ``diff(b)``.

    Differencing removes a shared monotone trend; what is left correlates only if the two
    series move together from one cycle to the next.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    cyc = np.arange(2, a.size + 1) if cycles is None else np.asarray(cycles)[1:]
    return correlate(np.diff(a), np.diff(b), method=method, cycles=cyc)


def partial_correlation(
    a: np.ndarray, b: np.ndarray, covariate: np.ndarray, *, degree: int = 1
) -> PartialResult:
    """Partial Pearson correlation of ``a`` and ``b`` given a polynomial in ``covariate``.

    Both series are residualised by OLS on ``1, s, ..., s**degree`` (statsmodels); the p-value
    uses a t distribution with ``n - 2 - degree`` degrees of freedom.
    """
    if degree < 1:
        raise ConfigError(f"The partial-correlation 'degree' must be at least 1. Got {degree}.")
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    s = np.asarray(covariate, dtype=float)
    n = a.size
    dof = n - 2 - degree
    if dof < 1:
        return PartialResult(
            r=None,
            p_value=None,
            n_used=n,
            degree=degree,
            dof=dof,
            undefined_reason=f"{n} cycles leave no degrees of freedom for a degree-{degree} fit",
        )
    design = np.vander(s, degree + 1, increasing=True)  # (n, degree + 1): 1, s, s^2, ...
    res_a = OLS(a, design).fit().resid
    res_b = OLS(b, design).fit().resid
    r = float(row_correlation(res_a, res_b, "pearson"))
    if not np.isfinite(r):
        return PartialResult(
            r=None,
            p_value=None,
            n_used=n,
            degree=degree,
            dof=dof,
            undefined_reason="a series is fully explained by sparsity (zero residuals)",
        )
    t = r * math.sqrt(dof / max(1e-300, 1.0 - r * r))
    p = float(2.0 * stats.t.sf(abs(t), dof))
    return PartialResult(r=r, p_value=p, n_used=n, degree=degree, dof=dof)
