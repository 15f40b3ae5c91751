"""Wanda (Sun, Liu, Bair and Kolter, 2024): prune by |w_ij| * ||x_j||_2, compared within each
output row (or within each N:M group of a row), with no weight update.

||x_j|| is the root mean square of input column j over the calibration set (the common factor
sqrt(n) changes no comparison); dead inputs score 0 and are pruned first.

The settings (``Wanda``) are in ``settings``; this module is the work its ``compress_layer``
does.
"""

from __future__ import annotations

from tomoprune.posttraining.base import (
    LayerContext,
    LayerProblem,
    LayerResult,
)
from tomoprune.posttraining.masks import keep_n_of_m, keep_per_row
from tomoprune.posttraining.settings import Wanda


def compress_layer(settings: Wanda, problem: LayerProblem, context: LayerContext) -> LayerResult:
    """``Wanda.compress_layer``."""
    w = problem.weight
    # in the weights' precision, as the reference scores (float64 scores sort 3-4x slower)
    scores = w.abs() * problem.energy.sqrt().to(w.dtype)[None, :]
    if settings.nm is not None:
        mask = keep_n_of_m(scores, *settings.nm)
    else:
        mask = keep_per_row(scores, 1.0 - settings.sparsity)
    return LayerResult(weight=w * mask)
