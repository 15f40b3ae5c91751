"""Wanda (Sun, Liu, Bair and Kolter, 2024): prune by |w_ij| * ||x_j||_2, compared within each
output row (or within each N:M group of a row), with no weight update.

||x_j|| is the root mean square of input column j over the calibration set (the common factor
sqrt(n) changes no comparison); dead inputs score 0 and are pruned first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tomoprune.errors import ConfigError
from tomoprune.plugins import Interval
from tomoprune.posttraining.base import (
    POSTTRAINING,
    Compressor,
    LayerContext,
    LayerProblem,
    LayerResult,
    parse_nm,
)
from tomoprune.posttraining.masks import keep_n_of_m, keep_per_row


@POSTTRAINING.register("wanda", summary="Wanda: |w| * ||x|| per output row or N:M, no update")
@dataclass(frozen=True, kw_only=True)
class Wanda(Compressor):
    """Wanda settings: ``sparsity`` per output row, or an ``nm`` pattern such as "2:4"."""

    sparsity: float = 0.5
    nm: Any = None

    constraints = {"sparsity": Interval(0, 1, closed="left")}

    def __post_init__(self) -> None:
        object.__setattr__(self, "nm", parse_nm(self.nm, "nm", "Wanda"))
        super().__post_init__()

    @property
    def density(self) -> float:
        return self.nm[0] / self.nm[1] if self.nm is not None else 1.0 - self.sparsity

    def check_layer(self, problem: LayerProblem) -> None:
        if self.nm is not None and problem.weight.shape[1] % self.nm[1]:
            raise ConfigError(
                f"layer {problem.name} has {problem.weight.shape[1]} input columns, not a "
                f"multiple of M = {self.nm[1]}; leave it out of the layer patterns for N:M."
            )

    def compress_layer(self, problem: LayerProblem, context: LayerContext) -> LayerResult:
        w = problem.weight
        scores = w.abs().to(problem.energy.dtype) * problem.energy.sqrt()[None, :]
        if self.nm is not None:
            mask = keep_n_of_m(scores, *self.nm)
        else:
            mask = keep_per_row(scores, 1.0 - self.sparsity)
        return LayerResult(weight=w * mask)
