"""Calibration statistics of one layer, accumulated batch by batch.

H = (1/n) sum_k x_k x_k^T over the n input columns seen so far, so that no batch of inputs has
to be kept once it has been added and the damping (relative to the mean diagonal) means the same
whatever n is. Each batch's product is taken in the inputs' precision (float32 for float32
models: one matrix product, as the reference code does) and added to a float64 running sum, so
rounding does not grow with the number of batches.
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
        x = inputs.detach().to(self.sum.device)
        if not x.is_floating_point() or x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        self.sum += (x.T @ x).to(torch.float64)
        self.samples += x.shape[0]

    @property
    def hessian(self) -> torch.Tensor:
        return self.sum / max(self.samples, 1)
