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

The settings (``Greedy``) are in ``settings``; this module is the work its ``compress_layer``
does.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tomoprune.posttraining.base import (
    LayerContext,
    LayerProblem,
    LayerResult,
)
from tomoprune.posttraining.replacement import UniformGrid, prune_replacement
from tomoprune.posttraining.settings import Greedy


def grid(settings: Greedy, weight: torch.Tensor) -> UniformGrid:
    """The symmetric grid of ``2**bits`` levels over [-M, M] (M: ``span_radius`` or max |w|)."""
    radius = settings.span_radius or float(weight.abs().max())
    return UniformGrid.symmetric(radius, settings.bits)


def compress_layer(settings: Greedy, problem: LayerProblem, context: LayerContext) -> LayerResult:
    """``Greedy.compress_layer``."""
    w = problem.weight
    flat = w.reshape(-1)
    if settings.mode == "prune":
        law = prune_replacement(flat, settings.p)
    else:
        law = grid(settings, w).stochastic(flat)
    energy = problem.energy.to(torch.float64)
    scores = law.variance.to(torch.float64).reshape(w.shape) * energy[None, :]
    chosen = greedy_order(scores, settings.alpha)
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
