"""The randomized greedy compressor of El Cheairi, Gamarnik and Mazumder (arXiv:2512.06288) on
any layer: each selected layer is a "wide" layer of the paper, scored at its own output.

Every weight w_ij is a candidate for a random replacement t of mean w (pruning:
w * Bernoulli(p) / p; quantization: stochastic rounding onto the paper's grid of 2**bits levels
on [-M, M]). Replacing (i, j) raises the expected output error by Var(t_ij) E[x_j^2] whatever
was replaced before, so the greedy loop is one stable sort: the floor(alpha * N) candidates of
smallest score are replaced, in that order, by one draw each from the run's seeded generator.
This is the closed form of ``tomoprune.methods.greedy.fast.wide_weights``; pair layers (scored
at the next layer through the activation) and structured units need the network's order of
layers and stay with ``tomoprune.methods.greedy.algorithm`` on ``nn.Sequential`` models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from tomoprune.errors import ConfigError
from tomoprune.plugins import Interval
from tomoprune.posttraining.base import (
    POSTTRAINING,
    Compressor,
    LayerContext,
    LayerProblem,
    LayerResult,
)
from tomoprune.posttraining.replacement import UniformGrid, prune_replacement


@POSTTRAINING.register("greedy", summary="randomized greedy pruning/quantization (El Cheairi+)")
@dataclass(frozen=True, kw_only=True)
class Greedy(Compressor):
    """Greedy settings: the share ``alpha`` of weights replaced, by draws of t (mean w)."""

    mode: Literal["prune", "quant"] = "prune"
    alpha: float = 0.9
    p: float = 0.3
    bits: int = 4
    # the grid's radius M (None: each layer's largest |w|; a number: one grid for all layers)
    span_radius: float | None = None
    seed: int = 0

    constraints = {
        "alpha": Interval(0, 1),
        "p": Interval(0, 1, closed="right"),
        "bits": Interval(1, 16, integer=True),
        "span_radius": Interval(0, None, closed="neither"),
    }

    def check(self) -> None:
        if self.span_radius is not None and self.mode != "quant":
            raise ConfigError(
                "The 'span_radius' setting of Greedy applies to mode='quant' only. "
                f"Got mode={self.mode!r} instead."
            )

    @property
    def quant_bits(self) -> int | None:
        return self.bits if self.mode == "quant" else None

    def grid(self, weight: torch.Tensor) -> UniformGrid:
        radius = self.span_radius or float(weight.abs().max())
        return UniformGrid.symmetric(radius, self.bits)

    def compress_layer(self, problem: LayerProblem, context: LayerContext) -> LayerResult:
        w = problem.weight
        flat = w.reshape(-1)
        if self.mode == "prune":
            law = prune_replacement(flat, self.p)
        else:
            law = self.grid(w).stochastic(flat)
        energy = problem.energy.to(torch.float64)
        scores = law.variance.to(torch.float64).reshape(w.shape) * energy[None, :]
        chosen = greedy_order(scores, self.alpha)
        draws = torch.from_numpy(context.rng.random(len(chosen))).to(law.prob_high)
        index = torch.from_numpy(chosen).to(w.device)
        new = flat.clone()
        new[index] = torch.where(
            draws.to(w.device) < law.prob_high[index], law.high[index], law.low[index]
        )
        return LayerResult(weight=new.reshape(w.shape), info={"replaced": len(chosen)})


def greedy_order(scores: torch.Tensor, alpha: float) -> np.ndarray:
    """Flat indices of the floor(alpha N) smallest scores, smallest first (ties: lower index)."""
    steps = math.floor(alpha * scores.numel())
    flat = scores.detach().cpu().numpy().reshape(-1)
    return np.argsort(flat, kind="stable")[:steps]
