"""The greedy loop exactly as Algorithm 1 states it, one loss evaluation per candidate.

Every step evaluates, for every candidate not yet compressed, the expected loss at depth kappa
after replacing it: the replacement law has two outcomes, so E_t L is computed exactly as
``P(low) L(low) + P(high) L(high)`` (two forward passes of the network from the layer to depth
kappa). The candidate with the smallest ``|E_t L - L|`` receives one draw and the scores are
recomputed. Cost: floor(alpha N) steps x N candidates x 2 forward passes; meant for small
layers and as the oracle of the fast path.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from tomoprune.methods.greedy.candidates import LayerCandidates


def reconstruction_loss(output: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over samples of the squared l2 distance (all output features)."""
    return float((output - target).pow(2).reshape(output.shape[0], -1).sum(1).mean())


@torch.no_grad()
def literal_greedy(
    segment: nn.Sequential,
    layer_input: torch.Tensor,
    target: torch.Tensor,
    candidates: LayerCandidates,
    alpha: float,
    rng: np.random.Generator,
) -> list[int]:
    """Compress ``floor(alpha N)`` candidates greedily; returns them in the order chosen.

    ``segment`` maps the layer's input to the pre-activation output at depth kappa (its first
    module is the layer that ``candidates`` modifies).
    """
    law = candidates.replacement
    steps = math.floor(alpha * candidates.count)
    remaining = list(range(candidates.count))
    chosen: list[int] = []
    current_value = candidates.original_weight.reshape(-1)
    for _ in range(steps):
        before = reconstruction_loss(segment(layer_input), target)
        scores = np.empty(len(remaining))
        for slot, index in enumerate(remaining):
            expected = 0.0
            for value, prob in (
                (float(law.low[index]), 1.0 - float(law.prob_high[index])),
                (float(law.high[index]), float(law.prob_high[index])),
            ):
                candidates.set(index, value)
                expected += prob * reconstruction_loss(segment(layer_input), target)
            restore = float(current_value[index]) if candidates.kind == "weight" else 1.0
            candidates.set(index, restore)
            scores[slot] = abs(expected - before)
        slot = int(np.argmin(scores))
        index = remaining.pop(slot)
        u = rng.random()
        value = float(law.high[index]) if u < float(law.prob_high[index]) else float(law.low[index])
        candidates.set(index, value)
        chosen.append(index)
    return chosen
