"""Magnitude pruning: keep the largest |w| of each layer (or of each row, or N:M), no data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tomoprune.posttraining.base import (
    POSTTRAINING,
    LayerContext,
    LayerProblem,
    LayerResult,
    Pruner,
)
from tomoprune.posttraining.masks import keep_n_of_m, keep_per_row, keep_per_tensor


@POSTTRAINING.register("magnitude", summary="zero the smallest |w| per layer, per row or N:M")
@dataclass(frozen=True, kw_only=True)
class Magnitude(Pruner):
    """Magnitude pruning settings: one threshold per layer ('layer') or per output row."""

    scope: Literal["layer", "row"] = "layer"

    needs_calibration = False

    def compress_layer(self, problem: LayerProblem, context: LayerContext) -> LayerResult:
        w = problem.weight
        scores = w.abs()
        if self.nm is not None:
            mask = keep_n_of_m(scores, *self.nm)
        elif self.scope == "row":
            mask = keep_per_row(scores, 1.0 - self.sparsity)
        else:
            mask = keep_per_tensor(scores, 1.0 - self.sparsity)
        return LayerResult(weight=w * mask)
