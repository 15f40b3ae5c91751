"""Magnitude pruning: keep the largest |w| of each layer (or of each row, or N:M), no data.

The settings (``Magnitude``) are in ``settings``; this module is the work its ``compress_layer``
does.
"""

from __future__ import annotations

from tomoprune.posttraining.base import (
    LayerContext,
    LayerProblem,
    LayerResult,
)
from tomoprune.posttraining.masks import keep_n_of_m, keep_per_row, keep_per_tensor
from tomoprune.posttraining.settings import Magnitude


def compress_layer(
    settings: Magnitude, problem: LayerProblem, context: LayerContext
) -> LayerResult:
    """``Magnitude.compress_layer``."""
    w = problem.weight
    scores = w.abs()
    if settings.nm is not None:
        mask = keep_n_of_m(scores, *settings.nm)
    elif settings.scope == "row":
        mask = keep_per_row(scores, 1.0 - settings.sparsity)
    else:
        mask = keep_per_tensor(scores, 1.0 - settings.sparsity)
    return LayerResult(weight=w * mask)
