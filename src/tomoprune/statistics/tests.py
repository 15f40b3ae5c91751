"""Paired tests of a mean difference over seeds.

The primary inference is the paired t-test (``scipy.stats.ttest_rel``): it answers the question
the interval answers (is the *mean* difference zero?), its interval and its p agree by
construction, and it can reach any p at any n >= 2. The Wilcoxon signed-rank test with its
Hodges-Lehmann estimate (the pseudo-median of the differences) is a sensitivity check: it
answers a different question (is the distribution of differences centred at 0?) and, exact and
without ties, cannot go below ``2 / 2**n`` (0.0625 at n = 5), so with 5 seeds it can never
reach 0.05.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from tomoprune.statistics.intervals import CONFIDENCE


@dataclass(frozen=True)
class PairedTest:
    """Paired t-test of ``a - b`` over matched seeds, with its t interval of the mean."""

    n: int
    mean: float | None
    sd: float | None
    t: float | None
    df: int | None
    p: float | None
    ci_low: float | None
    ci_high: float | None
    wins: int  # seeds where a > b
    losses: int  # seeds where a < b

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SignedRank:
    """Wilcoxon signed-rank test of the differences and their Hodges-Lehmann estimate."""

    n: int
    statistic: float | None
    p: float | None
    hodges_lehmann: float | None
    smallest_p: float | None  # the smallest two-sided p this n allows (exact, no ties)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def differences(a: Any, b: Any) -> np.ndarray:
    """``a - b`` over the pairs where both are finite."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same shape; got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep] - b[keep]


def paired_t_test(a: Any, b: Any, confidence: float = CONFIDENCE) -> PairedTest:
    """Two-sided paired t-test of ``mean(a - b) = 0`` (pairs with a missing value dropped)."""
    d = differences(a, b)
    n = int(d.size)
    wins, losses = int(np.sum(d > 0)), int(np.sum(d < 0))
    if n == 0:
        return PairedTest(0, None, None, None, None, None, None, None, 0, 0)
    mean = float(d.mean())
    if n == 1:
        return PairedTest(1, mean, None, None, None, None, None, None, wins, losses)
    sd = float(d.std(ddof=1))
    if sd == 0.0:  # every pair differs by the same amount: no spread to test against
        p = 1.0 if mean == 0.0 else 0.0
        return PairedTest(n, mean, 0.0, None, n - 1, p, mean, mean, wins, losses)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # near-identical values: exact anyway
        result = stats.ttest_1samp(d, 0.0)
        ci = result.confidence_interval(confidence)
    return PairedTest(
        n=n,
        mean=mean,
        sd=sd,
        t=float(result.statistic),
        df=n - 1,
        p=float(result.pvalue),
        ci_low=float(ci.low),
        ci_high=float(ci.high),
        wins=wins,
        losses=losses,
    )


def smallest_signed_rank_p(n: int) -> float | None:
    """The smallest two-sided p an exact signed-rank (or sign) test can give with ``n`` pairs:
    all differences of one sign, ``2 / 2**n``."""
    return None if n < 1 else min(1.0, 2.0 / 2**n)


def hodges_lehmann(d: np.ndarray) -> float | None:
    """Median of the Walsh averages ``(d_i + d_j) / 2, i <= j``: the estimate that goes with
    the signed-rank test (the pseudo-median), not the mean."""
    if d.size == 0:
        return None
    i, j = np.triu_indices(d.size)
    return float(np.median((d[i] + d[j]) / 2))


def signed_rank(a: Any, b: Any) -> SignedRank:
    """Two-sided Wilcoxon signed-rank test of ``a - b`` (scipy; exact for small n without
    ties) and the Hodges-Lehmann estimate."""
    d = differences(a, b)
    n = int(d.size)
    smallest = smallest_signed_rank_p(n)
    if n == 0 or np.all(d == 0):
        return SignedRank(n, None, None, hodges_lehmann(d), smallest)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-sample notes from scipy
        result = stats.wilcoxon(d, alternative="two-sided")
    return SignedRank(n, float(result.statistic), float(result.pvalue), hodges_lehmann(d), smallest)


def what_n_allows(n: int, alpha: float = 0.05) -> str:
    """A clause saying what ``n`` pairs can show, for the sentences."""
    smallest = smallest_signed_rank_p(n)
    if smallest is None or n < 2:
        return f"with {n} seed(s) no test over seeds is possible"
    if smallest > alpha:
        return (
            f"with {n} seeds no sign or signed-rank test can reach {alpha:g} (smallest possible "
            f"p = {smallest:.3g}); the paired t-test can, if the differences are near normal"
        )
    return f"with {n} seeds a signed-rank test can reach p = {smallest:.2g} at best"


def min_detectable_difference(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The true mean difference a two-sided paired t-test detects with ``power`` at ``alpha``
    given the differences' spread ``sd`` (normal approximation with t quantiles)."""
    if n < 2:
        return math.inf
    df = n - 1
    return (stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * sd / math.sqrt(n)


def t_test_from_interval(
    mean: float, low: float, high: float, n: int, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """The standard deviation of the differences and the two-sided paired t p-value implied
    by a published mean and its t interval over ``n`` seeds (for records that kept only the
    summary; as exact as the printed digits)."""
    half = (high - low) / 2
    se = half / float(stats.t.ppf(0.5 + confidence / 2, n - 1))
    if se <= 0:
        return 0.0, (1.0 if mean == 0 else 0.0)
    p = 2 * float(stats.t.sf(abs(mean) / se, n - 1))
    return se * math.sqrt(n), p
