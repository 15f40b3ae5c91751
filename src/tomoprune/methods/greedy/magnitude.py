"""Magnitude pruning: zero the smallest |w|, one threshold per layer or one over all layers."""

from __future__ import annotations

import math

import torch


def keep_count(numel: int, density: float) -> int:
    """Weights kept at ``density`` (the share that stays non-zero), rounded to nearest."""
    return int(round(density * numel))


def per_layer_masks(weights: list[torch.Tensor], density: float) -> list[torch.Tensor]:
    """Keep the ``density`` share of largest |w| in each tensor (ties: lower index first)."""
    masks = []
    for w in weights:
        flat = w.detach().abs().reshape(-1)
        order = torch.argsort(-flat, stable=True)[: keep_count(flat.numel(), density)]
        mask = torch.zeros_like(flat, dtype=torch.bool)
        mask[order] = True
        masks.append(mask.reshape(w.shape))
    return masks


def global_masks(weights: list[torch.Tensor], density: float) -> list[torch.Tensor]:
    """Keep the ``density`` share of largest |w| over all tensors together."""
    flat = torch.cat([w.detach().abs().reshape(-1) for w in weights])
    order = torch.argsort(-flat, stable=True)[: keep_count(flat.numel(), density)]
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep[order] = True
    masks, start = [], 0
    for w in weights:
        masks.append(keep[start : start + w.numel()].reshape(w.shape))
        start += w.numel()
    assert start == math.prod(flat.shape)
    return masks
