"""Does entropy tell more about accuracy than network size does?

Along one compression run, entropy and accuracy both trend with size, so their correlation
(0.9 and more) says little; a partial correlation given a *linear* sparsity term leaves any
curvature of the trend inside both series and still looks large. The question is answered here
as incremental value over a flexible function of size:

1. Per run, regress accuracy and entropy each on a cubic B-spline in log width (``df`` basis
   functions, knots at quantiles) and correlate the residuals: the partial correlation of
   entropy with accuracy given size (``incremental_fit``). Its naive p-value assumes independent
   rows, which a run's cycles are not; it is recorded, never used for a verdict.
2. Across seeds (independent runs), test the Fisher z of that partial correlation against 0
   with a t-test (``pool_incremental``): each seed counts once, so the autocorrelation within a
   run does not inflate the evidence. A single run gets a moving-block bootstrap interval of the
   residual correlation instead (``block_bootstrap_partial``).
3. The cross-method control: the same statistic with another method's accuracy at the same seed
   (a method that never looks at entropy); entropy carrying information about *its own* run's
   accuracy shows as a paired difference between the two over seeds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import interpolate, stats

from tomoprune.statistics.intervals import CONFIDENCE
from tomoprune.statistics.tests import paired_t_test

SPLINE_DF = 6
SPLINE_DEGREE = 3


def spline_basis(x: Any, df: int = SPLINE_DF, degree: int = SPLINE_DEGREE) -> np.ndarray:
    """``(n, df)`` B-spline design matrix in ``x`` with ``df - degree - 1`` interior knots at
    quantiles of ``x``; the columns sum to 1, so the basis holds the intercept."""
    x = np.asarray(x, dtype=float)
    if df < degree + 1:
        raise ValueError(f"a degree-{degree} spline needs df >= {degree + 1}; got {df}")
    lo, hi = float(x.min()), float(x.max())
    if not hi > lo:
        raise ValueError("the spline needs at least two distinct size values")
    n_inner = df - degree - 1
    inner = np.quantile(x, np.linspace(0, 1, n_inner + 2)[1:-1]) if n_inner else np.array([])
    knots = np.concatenate([[lo] * (degree + 1), inner, [hi] * (degree + 1)])
    return interpolate.BSpline.design_matrix(np.clip(x, lo, hi), knots, degree).toarray()


def residuals(y: np.ndarray, design: np.ndarray) -> np.ndarray:
    """``y`` minus its least-squares fit on the columns of ``design``."""
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return y - design @ coef


@dataclass(frozen=True)
class IncrementalFit:
    """Entropy against accuracy given a spline in size, for one run."""

    n: int
    df: int
    partial_r: float | None  # correlation of the two residual series
    r2_size: float | None  # R^2 of accuracy on the spline alone
    r2_with_entropy: float | None  # R^2 of accuracy on the spline and entropy
    naive_p: float | None  # F-test p assuming independent rows (not valid along a run)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def incremental_fit(
    accuracy: Any, entropy: Any, size: Any, *, df: int = SPLINE_DF
) -> IncrementalFit:
    """Partial correlation of ``entropy`` and ``accuracy`` given a cubic spline in ``size``
    (pass ``log(width)``), over the rows where all three are finite."""
    a, e, s = (np.asarray(v, dtype=float) for v in (accuracy, entropy, size))
    keep = np.isfinite(a) & np.isfinite(e) & np.isfinite(s)
    a, e, s = a[keep], e[keep], s[keep]
    n = int(a.size)
    if n < df + 3:
        return IncrementalFit(n, df, None, None, None, None)
    basis = spline_basis(s, df)
    ra, re = residuals(a, basis), residuals(e, basis)
    total = float(np.sum((a - a.mean()) ** 2))
    if total == 0 or np.std(re) == 0 or np.std(ra) == 0:
        return IncrementalFit(n, df, None, None, None, None)
    r = float(np.corrcoef(re, ra)[0, 1])
    r2_size = 1 - float(np.sum(ra**2)) / total
    full = np.column_stack([basis, e])
    r2_full = 1 - float(np.sum(residuals(a, full) ** 2)) / total
    dof = n - df - 1
    f = (r2_full - r2_size) / ((1 - r2_full) / dof) if r2_full < 1 else math.inf
    return IncrementalFit(n, df, r, r2_size, r2_full, float(stats.f.sf(f, 1, dof)))


def block_bootstrap_partial(
    accuracy: Any,
    entropy: Any,
    size: Any,
    *,
    rng: np.random.Generator,
    df: int = SPLINE_DF,
    block_length: int | None = None,
    n_resamples: int = 2000,
    confidence: float = CONFIDENCE,
) -> tuple[float | None, float | None]:
    """Moving-block bootstrap percentile interval of the residual correlation of one run
    (blocks of consecutive cycles keep the autocorrelation; default length ``n ** (1/3)``)."""
    a, e, s = (np.asarray(v, dtype=float) for v in (accuracy, entropy, size))
    keep = np.isfinite(a) & np.isfinite(e) & np.isfinite(s)
    a, e, s = a[keep], e[keep], s[keep]
    n = a.size
    if n < df + 3:
        return None, None
    basis = spline_basis(s, df)
    ra, re = residuals(a, basis), residuals(e, basis)
    length = block_length or max(2, round(n ** (1 / 3)))
    starts = rng.integers(0, n - length + 1, size=(n_resamples, math.ceil(n / length)))
    index = (starts[:, :, None] + np.arange(length)).reshape(n_resamples, -1)[:, :n]
    x, y = re[index], ra[index]  # (resamples, n)
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    denom = np.sqrt((x**2).sum(axis=1) * (y**2).sum(axis=1))
    r = np.where(denom > 0, (x * y).sum(axis=1) / np.where(denom > 0, denom, 1), np.nan)
    r = r[np.isfinite(r)]
    alpha = 1 - confidence
    low, high = np.quantile(r, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


@dataclass(frozen=True)
class PooledIncremental:
    """Seed-level inference on the partial correlation given size."""

    n: int
    mean_r: float | None  # tanh of the mean Fisher z over seeds
    ci_low: float | None
    ci_high: float | None
    p: float | None  # t-test of mean z = 0 over seeds
    control_n: int | None = None
    control_mean_r: float | None = None
    difference_p: float | None = None  # paired t over seeds: z(own) - z(control)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _z(values: Any) -> np.ndarray:
    r = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    return np.arctanh(np.clip(r, -0.999999, 0.999999))


def pool_incremental(
    partial_r: Any, control_r: Any = None, confidence: float = CONFIDENCE
) -> PooledIncremental:
    """t-test over seeds of the Fisher z of ``partial_r`` against 0; with ``control_r`` (the
    same seeds, another method's accuracy) also the paired t-test of the difference in z."""
    z = _z(partial_r)
    zf = z[np.isfinite(z)]
    n = int(zf.size)
    if n < 2:
        mean = float(np.tanh(zf.mean())) if n else None
        return PooledIncremental(n, mean, None, None, None)
    test = stats.ttest_1samp(zf, 0.0)
    ci = test.confidence_interval(confidence)
    pooled = PooledIncremental(
        n=n,
        mean_r=float(np.tanh(zf.mean())),
        ci_low=float(np.tanh(ci.low)),
        ci_high=float(np.tanh(ci.high)),
        p=float(test.pvalue),
    )
    if control_r is None:
        return pooled
    zc = _z(control_r)
    if zc.shape != z.shape:
        raise ValueError("the control needs one partial correlation per seed of the method")
    diff = paired_t_test(z, zc, confidence)
    fc = zc[np.isfinite(zc)]
    return PooledIncremental(
        **{
            **asdict(pooled),
            "control_n": diff.n,
            "control_mean_r": float(np.tanh(fc.mean())) if fc.size else None,
            "difference_p": diff.p,
        }
    )
