"""Wanda (Sun, Liu, Bair and Kolter, 2024): prune by |w_ij| * ||x_j||_2, compared within each
output row (or within each N:M group of a row), with no weight update.

||x_j|| is the root mean square of input column j over the calibration set (the common factor
sqrt(n) changes no comparison); dead inputs score 0 and are pruned first.
"""

from __future__ import annotations

from dataclasses import dataclass

from tomoprune.posttraining.base import (
    POSTTRAINING,
    LayerContext,
    LayerProblem,
    LayerResult,
    Pruner,
)
from tomoprune.posttraining.masks import keep_n_of_m, keep_per_row


@POSTTRAINING.register("wanda", summary="Wanda: |w| * ||x|| per output row or N:M, no update")
@dataclass(frozen=True, kw_only=True)
class Wanda(Pruner):
    """Wanda settings: ``sparsity`` per output row, or an ``nm`` pattern such as "2:4"."""

    def compress_layer(self, problem: LayerProblem, context: LayerContext) -> LayerResult:
        w = problem.weight
        scores = w.abs().to(problem.energy.dtype) * problem.energy.sqrt()[None, :]
        if self.nm is not None:
            mask = keep_n_of_m(scores, *self.nm)
        else:
            mask = keep_per_row(scores, 1.0 - self.sparsity)
        return LayerResult(weight=w * mask)
