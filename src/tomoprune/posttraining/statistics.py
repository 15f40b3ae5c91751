"""Calibration statistics of one layer, accumulated batch by batch.

H = (1/n) sum_k x_k x_k^T over the n input columns seen so far (float64), so that no batch of
inputs has to be kept once it has been added and the damping (relative to the mean diagonal)
means the same whatever n is.
"""

from __future__ import annotations

import torch


class HessianAccumulator:
    """Running mean of x x^T over input columns (rows of ``columns``-wide sample matrices)."""

    def __init__(self, columns: int, device: torch.device | str = "cpu") -> None:
        self.sum = torch.zeros((columns, columns), dtype=torch.float64, device=device)
        self.samples = 0

    @torch.no_grad()
    def add(self, inputs: torch.Tensor) -> None:
        """Add a (samples, columns) batch."""
        x = inputs.detach().to(self.sum.device, torch.float64)
        self.sum.addmm_(x.T, x)
        self.samples += x.shape[0]

    @property
    def hessian(self) -> torch.Tensor:
        return self.sum / max(self.samples, 1)
