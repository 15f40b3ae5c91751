"""Intervals over seeds: for a mean, for one new run, for pooled correlations.

* ``t_interval``: where the *mean over seeds* lies, ``mean +- t_{(1+c)/2, n-1} s / sqrt(n)``.
* ``prediction_interval``: where *one new run* lies, ``mean +- t_{(1+c)/2, n-1} s sqrt(1 + 1/n)``.
  This is the interval for "is a single published run consistent with ours": a perfect
  reproduction's single run falls inside the interval of the mean only about half the time at
  n = 10 (and ever less often as seeds are added), but inside the prediction interval with
  probability ``c`` for normal data, whatever n.
* ``bootstrap_t_interval``: the studentised bootstrap of a mean, a sensitivity check of the t
  interval when the values are skewed (the percentile bootstrap under-covers at small n).
* ``fisher_interval``: correlations pooled through ``arctanh``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class MeanInterval:
    """A centre and two-sided bounds (None where there are too few values)."""

    n: int
    mean: float | None
    sd: float | None
    low: float | None
    high: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def contains(self, value: float, digits: int | None = None) -> bool | None:
        """Whether ``value`` lies inside; with ``digits`` the bounds are first rounded to that
        many decimals, so that a mark agrees with the bounds as printed."""
        if self.low is None or self.high is None:
            return None
        low, high = self.low, self.high
        if digits is not None:
            low, high = round(low, digits), round(high, digits)
        return bool(low <= value <= high)


def _finite(values: Any) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    return x[np.isfinite(x)]


def _t_quantile(confidence: float, df: int) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    return float(stats.t.ppf(0.5 + confidence / 2, df))


def t_interval(values: Any, confidence: float = CONFIDENCE) -> MeanInterval:
    """Mean of the finite ``values`` and the two-sided Student t interval of that mean."""
    x = _finite(values)
    n = int(x.size)
    if n == 0:
        return MeanInterval(0, None, None, None, None)
    mean = float(x.mean())
    if n == 1:
        return MeanInterval(1, mean, None, None, None)
    sd = float(x.std(ddof=1))
    half = _t_quantile(confidence, n - 1) * sd / math.sqrt(n)
    return MeanInterval(n, mean, sd, mean - half, mean + half)


def prediction_interval(values: Any, confidence: float = CONFIDENCE) -> MeanInterval:
    """Where one new draw from the same distribution lies with probability ``confidence``
    (normal model): ``mean +- t_{(1+c)/2, n-1} s sqrt(1 + 1/n)``."""
    x = _finite(values)
    n = int(x.size)
    if n < 2:
        return MeanInterval(n, float(x.mean()) if n else None, None, None, None)
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    half = _t_quantile(confidence, n - 1) * sd * math.sqrt(1 + 1 / n)
    return MeanInterval(n, mean, sd, mean - half, mean + half)


def bootstrap_t_interval(
    values: Any, confidence: float = CONFIDENCE, *, n_resamples: int = 10_000, seed: int = 0
) -> MeanInterval:
    """Studentised (bootstrap-t) interval of the mean: the t statistic's own distribution is
    resampled, ``[mean - q_hi se, mean - q_lo se]``. Resamples with zero spread are dropped."""
    x = _finite(values)
    n = int(x.size)
    if n < 3:
        return MeanInterval(n, float(x.mean()) if n else None, None, None, None)
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    if sd == 0.0:
        return MeanInterval(n, mean, 0.0, mean, mean)
    rng = np.random.default_rng(seed)
    draws = x[rng.integers(0, n, size=(n_resamples, n))]  # (resamples, n)
    m, s = draws.mean(axis=1), draws.std(axis=1, ddof=1)
    ok = s > 0
    t_star = (m[ok] - mean) / (s[ok] / math.sqrt(n))
    alpha = 1 - confidence
    q_lo, q_hi = np.quantile(t_star, [alpha / 2, 1 - alpha / 2])
    se = sd / math.sqrt(n)
    return MeanInterval(n, mean, sd, float(mean - q_hi * se), float(mean - q_lo * se))


def fisher_interval(values: Any, confidence: float = CONFIDENCE) -> MeanInterval:
    """Correlations pooled through Fisher's z: the t interval of ``arctanh r`` mapped back with
    ``tanh`` (bounds stay inside [-1, 1]); ``mean`` is ``tanh(mean(arctanh r))``, ``sd`` the
    spread of z."""
    r = np.clip(_finite(values), -0.999999, 0.999999)
    z = t_interval(np.arctanh(r), confidence)

    def back(v: float | None) -> float | None:
        return None if v is None else float(np.tanh(v))

    return MeanInterval(z.n, back(z.mean), z.sd, back(z.low), back(z.high))
