"""Deterministic round-to-nearest quantization onto the same uniform grid as the greedy
quantizer (2**bits levels on [-M, M], per layer or shared)."""

from __future__ import annotations

import torch

from tomoprune.methods.greedy.grid import UniformGrid


def round_to_nearest(weight: torch.Tensor, grid: UniformGrid) -> torch.Tensor:
    return grid.nearest(weight.detach())
