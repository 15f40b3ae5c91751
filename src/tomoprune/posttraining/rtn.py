"""Round-to-nearest (RTN): every weight to the nearest value of its grid, no calibration data.

The grid is fitted per output channel (or per tensor), optionally per group of ``group_size``
columns, with the kinds of ``grid`` (asymmetric, symmetric, the paper's span grid).

The settings (``RTN``) are in ``settings``; this module is the work its ``compress_layer``
does.
"""

from __future__ import annotations

import torch

from tomoprune.posttraining.base import (
    LayerContext,
    LayerProblem,
    LayerResult,
)
from tomoprune.posttraining.grid import GridSpec, round_to_nearest
from tomoprune.posttraining.settings import RTN


def compress_layer(settings: RTN, problem: LayerProblem, context: LayerContext) -> LayerResult:
    """``RTN.compress_layer``."""
    spec = GridSpec(
        bits=settings.bits,
        kind=settings.grid,
        per_channel=settings.per_channel,
        group_size=settings.group_size,
        span_radius=settings.span_radius,
    )
    w = problem.weight
    state = round_to_nearest(w if w.dtype == torch.float64 else w.float(), spec)
    return LayerResult(weight=state.dequantize().to(problem.weight.dtype), quant=state)
