"""Calibration statistics of one layer, accumulated batch by batch.

H = (1/n) sum_k x_k x_k^T over the n input columns seen so far, so that no batch of inputs has
to be kept once it has been added and the damping (relative to the mean diagonal) means the same
whatever n is. Each batch is added with one in-place matrix product (``addmm_``: no temporary
matrix) into a running sum in the inputs' precision -- float32 for float32 models, as the
reference implementations do, float64 for float64 inputs -- and the mean is handed out in
float64.
"""

from __future__ import annotations

import torch


class HessianAccumulator:
    """Running mean of x x^T over input columns (rows of ``columns``-wide sample matrices)."""

    def __init__(self, columns: int, device: torch.device | str = "cpu") -> None:
        self.columns = columns
        self.device = torch.device(device)
        self.sum: torch.Tensor | None = None  # allocated by the first batch, in its precision
        self.samples = 0

    @torch.no_grad()
    def add(self, inputs: torch.Tensor) -> None:
        """Add a (samples, columns) batch."""
        x = inputs.detach().to(self.device)
        if x.dtype != torch.float64:
            x = x.float()
        if self.sum is None:
            self.sum = torch.zeros((self.columns, self.columns), dtype=x.dtype, device=x.device)
        elif x.dtype != self.sum.dtype:
            self.sum = self.sum.to(torch.float64)
            x = x.double()
        self.sum.addmm_(x.T, x)
        self.samples += x.shape[0]

    @property
    def hessian(self) -> torch.Tensor:
        if self.sum is None:
            return torch.zeros(
                (self.columns, self.columns), dtype=torch.float64, device=self.device
            )
        return self.sum.to(torch.float64) / max(self.samples, 1)
