"""Equivalence: may we say two methods do *not* differ by more than a declared margin?

Overlapping intervals, or a test that fails to reject, say nothing of the kind. Two one-sided
t-tests (TOST, statsmodels ``ttost_paired``) against a margin ``m`` declared before the runs
reject "the mean difference is at most -m" and "at least +m"; equivalence is claimed when both
reject at ``alpha``, which is the same as the ``1 - 2 alpha`` t interval lying inside
``(-m, m)``. ``smallest_margin`` is the margin at which the data would just show equivalence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from statsmodels.stats.weightstats import ttost_paired

from tomoprune.statistics.intervals import t_interval
from tomoprune.statistics.tests import differences


@dataclass(frozen=True)
class Equivalence:
    """TOST of ``a - b`` against ``(-margin, +margin)``."""

    n: int
    margin: float
    alpha: float
    p: float | None  # the larger of the two one-sided p-values
    equivalent: bool | None
    smallest_margin: float | None  # max |bound| of the 1 - 2 alpha t interval

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tost_paired(a: Any, b: Any, margin: float, alpha: float = 0.05) -> Equivalence:
    """Paired TOST of ``a - b`` within ``+-margin`` (pairs with a missing value dropped)."""
    if not margin > 0:
        raise ValueError(f"the equivalence margin must be positive; got {margin}")
    d = differences(a, b)
    n = int(d.size)
    if n < 2:
        return Equivalence(n, margin, alpha, None, None, None)
    ci = t_interval(d, 1 - 2 * alpha)
    smallest = max(abs(ci.low), abs(ci.high))
    if np.all(d == d[0]):  # no spread: equivalent exactly when the constant is inside
        inside = abs(float(d[0])) < margin
        return Equivalence(n, margin, alpha, 0.0 if inside else 1.0, inside, smallest)
    p, _, _ = ttost_paired(d, np.zeros_like(d), -margin, margin)
    p = float(p)
    return Equivalence(n, margin, alpha, p, p < alpha, smallest)


def tost_from_summary(mean: float, sd: float, n: int, margin: float, alpha: float = 0.05):
    """TOST from a mean difference, its standard deviation and ``n`` (same test as
    ``tost_paired``, for records that kept only the summary)."""
    from scipy import stats

    se = sd / np.sqrt(n)
    p_lower = float(stats.t.sf((mean + margin) / se, n - 1))
    p_upper = float(stats.t.cdf((mean - margin) / se, n - 1))
    p = max(p_lower, p_upper)
    half = float(stats.t.ppf(1 - alpha, n - 1)) * se
    return Equivalence(n, margin, alpha, p, p < alpha, max(abs(mean - half), abs(mean + half)))
