"""Per-cycle statistics of the DTC scores ("weight rays") and recovered coefficient vectors."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, kw_only=True)
class VectorStats:
    """Size, zero share and norms of one vector (``zero_share``: exact zeros / length)."""

    n: int
    zero_share: float | None
    l1: float | None
    l2: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class RayStats:
    """Ray statistics of one cycle.

    ``mean_abs_over_len`` is ``mean(|score|) / len(score)``, the quantity the paper's weight-rays
    figure plots. ``coefficients`` maps a layer to its VectorStats, or None when the run did not
    record that coefficient vector.
    """

    cycle: int
    mean_abs_over_len: float | None
    scores: VectorStats | None
    coefficients: dict[str, VectorStats | None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "mean_abs_over_len": self.mean_abs_over_len,
            "scores": None if self.scores is None else self.scores.to_dict(),
            "coefficients": {
                k: None if v is None else v.to_dict() for k, v in self.coefficients.items()
            },
        }


def vector_stats(values: np.ndarray | None) -> VectorStats | None:
    """Zero share and l1/l2 norms; None for a missing vector, None fields for non-finite ones."""
    if values is None:
        return None
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        return VectorStats(n=int(x.size), zero_share=None, l1=None, l2=None)
    return VectorStats(
        n=int(x.size),
        zero_share=float(np.count_nonzero(x == 0.0) / x.size),
        l1=float(np.sum(np.abs(x))),
        l2=float(np.linalg.norm(x)),
    )


def mean_abs_over_len(scores: np.ndarray | None) -> float | None:
    """``mean(|score|) / len(score)``; None when missing, empty or not finite."""
    if scores is None:
        return None
    x = np.asarray(scores, dtype=float).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        return None
    return float(np.mean(np.abs(x)) / x.size)


def ray_statistics(
    cycle: int, scores: np.ndarray | None, coefficients: dict[str, np.ndarray | None]
) -> RayStats:
    """Statistics of one cycle's scores and coefficient vectors."""
    return RayStats(
        cycle=int(cycle),
        mean_abs_over_len=mean_abs_over_len(scores),
        scores=vector_stats(scores),
        coefficients={layer: vector_stats(v) for layer, v in coefficients.items()},
    )
