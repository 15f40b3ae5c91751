"""Magnitude pruning: keep the largest |w| of each layer (or of each row, or N:M), no data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

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
from tomoprune.posttraining.masks import keep_n_of_m, keep_per_row, keep_per_tensor


@POSTTRAINING.register("magnitude", summary="zero the smallest |w| per layer, per row or N:M")
@dataclass(frozen=True, kw_only=True)
class Magnitude(Compressor):
    """Magnitude pruning settings: one threshold per layer ('layer') or per output row."""

    sparsity: float = 0.5
    scope: Literal["layer", "row"] = "layer"
    nm: Any = None

    constraints = {"sparsity": Interval(0, 1, closed="left")}
    needs_calibration = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "nm", parse_nm(self.nm, "nm", "Magnitude"))
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
        scores = w.abs()
        if self.nm is not None:
            mask = keep_n_of_m(scores, *self.nm)
        elif self.scope == "row":
            mask = keep_per_row(scores, 1.0 - self.sparsity)
        else:
            mask = keep_per_tensor(scores, 1.0 - self.sparsity)
        return LayerResult(weight=w * mask)
