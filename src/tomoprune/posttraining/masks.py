"""Masks that keep the entries of largest score: per row, per N:M group, per tensor.

Ties go to the lower index (stable sorts), so a mask is a deterministic function of its scores.
"""

from __future__ import annotations

import torch


def keep_per_row(scores: torch.Tensor, density: float) -> torch.Tensor:
    """Each row keeps its round(density * columns) largest scores."""
    keep = round(density * scores.shape[1])
    order = torch.argsort(-scores, dim=1, stable=True)[:, :keep]
    mask = torch.zeros_like(scores, dtype=torch.bool)
    return mask.scatter_(1, order, True)


def keep_per_tensor(scores: torch.Tensor, density: float) -> torch.Tensor:
    """The tensor keeps its round(density * numel) largest scores."""
    flat = scores.reshape(-1)
    order = torch.argsort(-flat, stable=True)[: round(density * flat.numel())]
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[order] = True
    return mask.reshape(scores.shape)


def keep_n_of_m(scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """In every row, each run of ``m`` consecutive columns keeps its ``n`` largest scores."""
    rows, columns = scores.shape
    grouped = scores.reshape(rows, columns // m, m)
    order = torch.argsort(-grouped, dim=2, stable=True)[:, :, :n]
    mask = torch.zeros_like(grouped, dtype=torch.bool).scatter_(2, order, True)
    return mask.reshape(rows, columns)


def is_n_of_m(mask: torch.Tensor, n: int, m: int) -> bool:
    """Whether every run of ``m`` consecutive columns of every row has at most ``n`` kept."""
    rows, columns = mask.shape
    return bool((mask.reshape(rows, columns // m, m).sum(2) <= n).all())
