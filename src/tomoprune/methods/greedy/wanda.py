"""Wanda (Sun et al., 2023, "A Simple and Effective Pruning Approach for Large Language
Models"): score |w_ij| * ||x_j||_2 over the calibration inputs, compared within each output row
(each row keeps the same share of its weights), no weight update.

For a Conv2d, x_j is the unfolded input patch entry feeding kernel position j, and each output
filter is a row.
"""

from __future__ import annotations

import torch
from torch import nn

from tomoprune.methods.greedy.fast import input_energy
from tomoprune.methods.greedy.magnitude import keep_count


def wanda_scores(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """|w_ij| * ||x_j|| (the norm as a root mean square; the factor sqrt(N) is common)."""
    norms = input_energy(layer, x).sqrt().to(layer.weight.dtype)
    return layer.weight.detach().abs() * norms.unsqueeze(0)


def wanda_mask(layer: nn.Module, x: torch.Tensor, density: float) -> torch.Tensor:
    scores = wanda_scores(layer, x).reshape(layer.weight.shape[0], -1)
    keep = keep_count(scores.shape[1], density)
    order = torch.argsort(-scores, dim=1, stable=True)[:, :keep]
    mask = torch.zeros_like(scores, dtype=torch.bool)
    mask.scatter_(1, order, True)
    return mask.reshape(layer.weight.shape)
