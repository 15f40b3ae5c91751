"""Gibbs entropy of a measurement vector from a normalised histogram.

The DTC paper bins a vector with fixed edges ``np.arange(-50, 50, 0.2)``, drops whatever falls
outside, normalises the counts to ``p`` and reports ``G = -sum p log(p + 1e-10)``. Here the
binning is a named strategy (registry ``BINNINGS``), the logarithm base and the formula are
settings, and the share of values outside the bins is reported instead of silently dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np

from tomoprune.errors import ConfigError
from tomoprune.registry import Registry

BinningRule = Callable[[np.ndarray, "EntropySettings"], np.ndarray]
BINNINGS: Registry[BinningRule] = Registry("binning")

FORMULAS = ("paper_epsilon", "exact")
BASES = {"2": 2.0, "e": math.e, "10": 10.0}
NUMPY_RULES = ("auto", "fd", "doane", "scott", "rice", "sturges", "sqrt")


@dataclass(frozen=True, kw_only=True)
class EntropySettings:
    """How a vector becomes a histogram and the histogram an entropy.

    Attributes
    ----------
    binning : str
        Name in ``BINNINGS``: ``"paper"`` (fixed edges), ``"fixed_count"`` (``n_bins`` equal
        bins over the data range) or a numpy rule (``"fd"``, ``"sturges"``, ``"auto"``, ...).
    n_bins : int
        Number of bins for ``"fixed_count"``.
    base : str
        Logarithm base: ``"2"``, ``"e"`` or ``"10"``.
    formula : str
        ``"paper_epsilon"``: ``-sum p log(p + epsilon)`` over all bins, as the paper computes;
        ``"exact"``: ``-sum_{p > 0} p log p``.
    epsilon : float
        The paper's guard inside the logarithm.
    paper_low, paper_high, paper_width : float
        The fixed edges are ``np.arange(paper_low, paper_high, paper_width)`` (paper: -50, 50,
        0.2; note the last edge is 49.8, so values in [49.8, 50) fall outside too).
    """

    binning: str = "paper"
    n_bins: int = 50
    base: str = "e"
    formula: str = "paper_epsilon"
    epsilon: float = 1e-10
    paper_low: float = -50.0
    paper_high: float = 50.0
    paper_width: float = 0.2

    def __post_init__(self) -> None:
        BINNINGS.get(self.binning)  # ConfigError listing the valid names
        if self.base not in BASES:
            raise ConfigError(
                f"The 'base' entropy setting must be one of {sorted(BASES)}. "
                f"Got {self.base!r} instead."
            )
        if self.formula not in FORMULAS:
            raise ConfigError(
                f"The 'formula' entropy setting must be one of {list(FORMULAS)}. "
                f"Got {self.formula!r} instead."
            )
        if self.n_bins < 1:
            raise ConfigError(
                f"The 'n_bins' entropy setting must be a positive integer. Got {self.n_bins}."
            )
        if not self.paper_width > 0 or not self.paper_high > self.paper_low:
            raise ConfigError(
                "The paper bin edges need paper_width > 0 and paper_high > paper_low. "
                f"Got {self.paper_low}, {self.paper_high}, {self.paper_width}."
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class EntropyResult:
    """Entropy of one vector.

    ``value`` is None (never NaN) when nothing could be binned; ``undefined_reason`` says why.
    ``share_outside`` is the share of the finite values that fell outside the bin edges.
    """

    value: float | None
    undefined_reason: str | None
    bins: int
    share_outside: float | None
    n: int
    n_binned: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@BINNINGS.register("paper")
def paper_edges(values: np.ndarray, settings: EntropySettings) -> np.ndarray:
    """The paper's fixed edges, whatever the data: ``np.arange(-50.0, 50.0, 0.2)``."""
    return np.arange(settings.paper_low, settings.paper_high, settings.paper_width)


@BINNINGS.register("fixed_count")
def fixed_count_edges(values: np.ndarray, settings: EntropySettings) -> np.ndarray:
    """``n_bins`` equal-width bins spanning the data range."""
    return np.histogram_bin_edges(values, bins=settings.n_bins)


def _numpy_rule_edges(rule: str, values: np.ndarray, settings: EntropySettings) -> np.ndarray:
    return np.histogram_bin_edges(values, bins=rule)


for _rule in NUMPY_RULES:
    BINNINGS.register(_rule)(partial(_numpy_rule_edges, _rule))
del _rule


def bin_edges(values: np.ndarray, settings: EntropySettings) -> np.ndarray:
    """Bin edges the configured strategy gives for ``values`` (finite values only)."""
    return np.asarray(BINNINGS.get(settings.binning)(values, settings), dtype=float)


def gibbs_entropy(values: np.ndarray | list[float], settings: EntropySettings) -> EntropyResult:
    """Gibbs entropy of the histogram of ``values``.

    Parameters
    ----------
    values : array_like, shape (n,)
        A measurement vector. ``None``/NaN/inf entries make the entropy undefined (the vector
        is then not what the run measured), as does an empty vector or one whose values all
        fall outside fixed bin edges.
    settings : EntropySettings
        Binning, logarithm base and formula.

    Returns
    -------
    EntropyResult
    """
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        x = values.astype(float, copy=False).ravel()
    else:
        x = np.asarray([np.nan if v is None else v for v in values], dtype=float).ravel()
    n = int(x.size)
    if n == 0:
        return EntropyResult(
            value=None,
            undefined_reason="empty vector (no measurements at this cycle)",
            bins=0,
            share_outside=None,
            n=0,
            n_binned=0,
        )
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        return EntropyResult(
            value=None,
            undefined_reason=f"{bad} of {n} values are missing or not finite",
            bins=0,
            share_outside=None,
            n=n,
            n_binned=0,
        )
    edges = bin_edges(x, settings)
    counts, _ = np.histogram(x, bins=edges)
    binned = int(counts.sum())
    share_outside = 1.0 - binned / n
    if binned == 0:
        return EntropyResult(
            value=None,
            undefined_reason=(
                f"all {n} values fall outside the bin edges "
                f"[{edges[0]:.6g}, {edges[-1]:.6g}] (the paper's 0/0)"
            ),
            bins=int(edges.size - 1),
            share_outside=share_outside,
            n=n,
            n_binned=0,
        )
    p = counts / binned
    log_base = math.log(BASES[settings.base])
    if settings.formula == "paper_epsilon":
        g = -float(np.sum(p * np.log(p + settings.epsilon))) / log_base
    else:
        nz = p[p > 0]
        g = -float(np.sum(nz * np.log(nz))) / log_base
    return EntropyResult(
        value=g,
        undefined_reason=None,
        bins=int(edges.size - 1),
        share_outside=share_outside,
        n=n,
        n_binned=binned,
    )


def entropy_series(
    vectors: list[np.ndarray | None], settings: EntropySettings
) -> list[EntropyResult]:
    """Entropy of each vector; a missing vector (None) gives an undefined result."""
    out = []
    for v in vectors:
        if v is None:
            out.append(
                EntropyResult(
                    value=None,
                    undefined_reason="no measurement vector recorded for this layer",
                    bins=0,
                    share_outside=None,
                    n=0,
                    n_binned=0,
                )
            )
        else:
            out.append(gibbs_entropy(v, settings))
    return out


def values_of(results: list[EntropyResult]) -> np.ndarray:
    """Entropy values as a float array, NaN where undefined (for internal arithmetic only)."""
    return np.array([np.nan if r.value is None else r.value for r in results], dtype=float)
