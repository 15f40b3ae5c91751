"""Round-to-nearest (RTN): every weight to the nearest value of its grid, no calibration data.

The grid is fitted per output channel (or per tensor), optionally per group of ``group_size``
columns, with the kinds of ``grid`` (asymmetric, symmetric, the paper's span grid).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tomoprune.errors import ConfigError
from tomoprune.plugins import Interval, OneOf
from tomoprune.posttraining.base import (
    POSTTRAINING,
    Compressor,
    LayerContext,
    LayerProblem,
    LayerResult,
)
from tomoprune.posttraining.grid import GridKind, GridSpec, round_to_nearest


@POSTTRAINING.register("rtn", summary="round-to-nearest onto per-channel / per-group grids")
@dataclass(frozen=True, kw_only=True)
class RTN(Compressor):
    """RTN settings (the grid settings mean what they mean for GPTQ)."""

    bits: int = 4
    grid: GridKind = "asymmetric"
    per_channel: bool = True
    group_size: int | None = None
    span_radius: float | None = None

    constraints = {
        "bits": Interval(1, 16, integer=True),
        "group_size": Interval(1, None, integer=True),
        "span_radius": Interval(0, None, closed="neither"),
        "per_channel": OneOf((False, True)),
    }
    needs_calibration = False

    def check(self) -> None:
        if self.span_radius is not None and self.grid != "span":
            raise ConfigError(
                "The 'span_radius' setting of RTN applies to grid='span' only. "
                f"Got grid={self.grid!r} instead."
            )

    def compress_layer(self, problem: LayerProblem, context: LayerContext) -> LayerResult:
        spec = GridSpec(
            bits=self.bits,
            kind=self.grid,
            per_channel=self.per_channel,
            group_size=self.group_size,
            span_radius=self.span_radius,
        )
        w = problem.weight
        state = round_to_nearest(w if w.dtype == torch.float64 else w.float(), spec)
        return LayerResult(weight=state.dequantize().to(problem.weight.dtype), quant=state)
