"""Size-only null models for the Gibbs entropy series.

The number of measurements shrinks with the network (about a tenth of the remaining width), and
the entropy of a histogram of ``n`` values is bounded by ``log n``. So entropy falls with sparsity
whatever the values are. The null models here keep only the vector lengths: each cycle's vector
is replaced by ``n`` draws from a fixed distribution and the same entropy is computed, many times.
If the null entropy correlates with accuracy nearly as well as the observed one, vector length
explains the correlation.

Kinds
-----
``scale_matched``: Gaussian with mean 0 and the observed vector's root-mean-square as its scale
(so the share of values outside fixed bin edges is matched too). For DTC's measurements
``y = Phi x`` with a Gaussian ``Phi`` drawn independently of ``x``, ``y`` given ``x`` is exactly
i.i.d. ``N(0, ||x||^2)``: this null *is* the observed vector's distribution, so it checks the
measurement pipeline and cannot test anything about the Gibbs claim (entropy then carries only
the length and the norm). ``tomoprune.statistics.incremental`` asks the real question.
``fixed_scale``: one Gaussian scale for every cycle (default: the RMS of all observed values of
the layer pooled), so only the lengths change from cycle to cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tomoprune.analysis.correlation import row_correlation, undefined_reason
from tomoprune.analysis.entropy import EntropySettings, gibbs_entropy
from tomoprune.errors import ConfigError

NULL_KINDS = ("scale_matched", "fixed_scale")


@dataclass(frozen=True, kw_only=True)
class NullModelResult:
    """Entropy of size-matched random vectors, per cycle and per draw.

    ``draws`` has shape (n_cycles, n_draws); NaN marks a draw whose entropy is undefined (e.g.
    every value outside fixed bins). ``lengths`` and ``scales`` are per cycle; a cycle without an
    observed vector has length 0 and NaN everywhere.
    """

    kind: str
    cycles: np.ndarray
    lengths: np.ndarray
    scales: np.ndarray
    draws: np.ndarray
    quantiles: tuple[float, float]

    def _nan_stat(self, fn: Any) -> np.ndarray:
        out = np.full(self.draws.shape[0], np.nan)
        for i, row in enumerate(self.draws):
            row = row[np.isfinite(row)]
            if row.size:
                out[i] = fn(row)
        return out

    @property
    def mean(self) -> np.ndarray:
        return self._nan_stat(np.mean)

    @property
    def median(self) -> np.ndarray:
        return self._nan_stat(np.median)

    @property
    def low(self) -> np.ndarray:
        return self._nan_stat(lambda r: np.quantile(r, self.quantiles[0]))

    @property
    def high(self) -> np.ndarray:
        return self._nan_stat(lambda r: np.quantile(r, self.quantiles[1]))

    @property
    def share_undefined(self) -> np.ndarray:
        return np.mean(~np.isfinite(self.draws), axis=1) if self.draws.size else np.zeros(0)

    def per_cycle(self) -> list[dict[str, Any]]:
        """One plain dict per cycle (JSON-ready: NaN becomes null when written)."""
        mean, median, low, high = self.mean, self.median, self.low, self.high
        share = self.share_undefined
        return [
            {
                "cycle": int(c),
                "n": int(self.lengths[i]),
                "scale": float(self.scales[i]),
                "mean": float(mean[i]),
                "median": float(median[i]),
                f"q{self.quantiles[0]:g}": float(low[i]),
                f"q{self.quantiles[1]:g}": float(high[i]),
                "share_undefined": float(share[i]),
            }
            for i, c in enumerate(self.cycles)
        ]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x))) if x.size else float("nan")


def size_null(
    vectors: Sequence[np.ndarray | None],
    *,
    settings: EntropySettings,
    kind: str = "scale_matched",
    n_draws: int = 500,
    rng: np.random.Generator,
    cycles: Sequence[int] | None = None,
    fixed_scale: float | None = None,
    quantiles: tuple[float, float] = (0.05, 0.95),
) -> NullModelResult:
    """Entropy of Gaussian vectors of the observed lengths, ``n_draws`` per cycle.

    Parameters
    ----------
    vectors : sequence of array_like or None
        The observed measurement vectors, one per cycle (None or non-finite: no null there).
    settings : EntropySettings
        The same entropy settings as the observed series.
    kind : {"scale_matched", "fixed_scale"}
    n_draws : int
        Random vectors per cycle.
    rng : numpy.random.Generator
        Source of all draws.
    cycles : sequence of int, optional
        Cycle numbers (default 1..n).
    fixed_scale : float, optional
        Scale for ``"fixed_scale"``; default the RMS of all finite observed values pooled.
    quantiles : (float, float)
        Lower and upper quantile reported per cycle.
    """
    if kind not in NULL_KINDS:
        raise ConfigError(f"The null-model 'kind' must be one of {list(NULL_KINDS)}. Got {kind!r}.")
    if n_draws < 1:
        raise ConfigError(f"The null model needs n_draws >= 1. Got {n_draws}.")
    if not 0.0 <= quantiles[0] < quantiles[1] <= 1.0:
        raise ConfigError(
            f"Null-model quantiles must satisfy 0 <= low < high <= 1. Got {quantiles}."
        )
    observed = []
    for v in vectors:
        arr = None if v is None else np.asarray(v, dtype=float).ravel()
        observed.append(arr if arr is not None and np.all(np.isfinite(arr)) else None)
    n_cycles = len(observed)
    cyc = np.arange(1, n_cycles + 1) if cycles is None else np.asarray(cycles, dtype=int)
    lengths = np.array([0 if v is None else v.size for v in observed], dtype=int)
    if kind == "scale_matched":
        scales = np.array([np.nan if v is None else _rms(v) for v in observed])
    else:
        if fixed_scale is None:
            pooled = [v for v in observed if v is not None and v.size]
            fixed_scale = _rms(np.concatenate(pooled)) if pooled else float("nan")
        scales = np.where(lengths > 0, float(fixed_scale), np.nan)
    draws = np.full((n_cycles, n_draws), np.nan)
    for i in range(n_cycles):
        n, scale = int(lengths[i]), scales[i]
        if n == 0 or not np.isfinite(scale):
            continue
        sample = rng.normal(0.0, scale, size=(n_draws, n))  # one row per draw
        for k in range(n_draws):
            value = gibbs_entropy(sample[k], settings).value
            if value is not None:
                draws[i, k] = value
    return NullModelResult(
        kind=kind,
        cycles=cyc,
        lengths=lengths,
        scales=scales,
        draws=draws,
        quantiles=(float(quantiles[0]), float(quantiles[1])),
    )


@dataclass(frozen=True, kw_only=True)
class NullCorrelation:
    """How well size-only null entropy correlates with the same accuracy series.

    ``r_of_mean`` correlates the per-cycle null mean with accuracy; ``r_draws_*`` summarise the
    correlations of the individual draws (one null series per draw index).
    """

    kind: str
    method: str
    r_of_mean: float | None
    r_draws_mean: float | None
    r_draws_low: float | None
    r_draws_high: float | None
    n_used: int
    n_draws_valid: int
    undefined_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def null_correlation(
    null: NullModelResult,
    accuracy: np.ndarray,
    *,
    use: np.ndarray,
    method: str = "pearson",
) -> NullCorrelation:
    """Correlate the null entropy with ``accuracy`` over the cycles ``use`` (boolean mask).

    ``use`` should be the cycles the observed correlation used, so that both rest on the same
    cycles. A draw with an undefined entropy at any used cycle is left out.
    """
    acc = np.asarray(accuracy, dtype=float)[use]
    mean = null.mean[use]
    common = {"kind": null.kind, "method": method, "n_used": int(acc.size)}
    if not np.all(np.isfinite(mean)):
        return NullCorrelation(
            r_of_mean=None,
            r_draws_mean=None,
            r_draws_low=None,
            r_draws_high=None,
            n_draws_valid=0,
            undefined_reason="the null entropy is undefined at some used cycle",
            **common,
        )
    reason = undefined_reason(mean, acc)
    r_mean = None if reason else float(row_correlation(mean, acc, method))
    draws = null.draws[use].T  # (n_draws, n_used)
    draws = draws[np.all(np.isfinite(draws), axis=1)]
    rs = row_correlation(draws, acc[None, :], method) if draws.size else np.zeros(0)
    rs = rs[np.isfinite(rs)]
    if rs.size == 0:
        return NullCorrelation(
            r_of_mean=r_mean,
            r_draws_mean=None,
            r_draws_low=None,
            r_draws_high=None,
            n_draws_valid=0,
            undefined_reason=reason or "no null draw gives a defined correlation",
            **common,
        )
    low, high = np.quantile(rs, null.quantiles)
    return NullCorrelation(
        r_of_mean=r_mean,
        r_draws_mean=float(rs.mean()),
        r_draws_low=float(low),
        r_draws_high=float(high),
        n_draws_valid=int(rs.size),
        undefined_reason=reason,
        **common,
    )
