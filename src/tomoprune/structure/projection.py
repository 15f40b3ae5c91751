"""Projection of each sample onto an l2 ball: the norm bound of the greedy compressor's theory.

El Cheairi, Gamarnik and Mazumder's analysis of randomized greedy compression projects the
compressed layer l's output phi(W_hat_l x) onto the l2 ball of radius c^l (c the largest operator
norm of the dense network's weight matrices, inputs in the unit ball). ``BallProjection`` is
that projection as a layer, so a projected network is an ordinary ``nn.Sequential`` that saves,
reloads, exports to ONNX and is accounted like any other (it is a pass-through entry of the one
layer table, ``tomoprune.structure.layers``).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class BallProjection(nn.Module):
    """y -> y * min(1, radius / ||y||) for each sample, the norm over all non-batch dimensions.

    This is the Euclidean projection onto the ball {||y|| <= radius}: a sample inside the ball
    is returned unchanged (the scale is exactly 1), one outside is scaled onto the sphere. The
    projection onto a closed convex set is nonexpansive, and the set holds every point of the
    ball, so projecting can only bring a sample closer to any point inside the ball. The layer
    has no tensors: ``radius`` is a plain float (a constant in an ONNX export). Inputs carry a
    batch dimension first.
    """

    def __init__(self, radius: float) -> None:
        super().__init__()
        radius = float(radius)
        if not (math.isfinite(radius) and radius > 0):
            raise ValueError(f"the ball's radius must be positive and finite, got {radius}")
        self.radius = radius

    def norms(self, y: torch.Tensor) -> torch.Tensor:
        """||y_s|| per sample, shape (batch,)."""
        return torch.linalg.vector_norm(y.flatten(1), dim=1)

    def outside(self, y: torch.Tensor) -> torch.Tensor:
        """Which samples the projection moves (norm above the radius), shape (batch,)."""
        return self.norms(y) > self.radius

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        # radius / 0 = inf for an all-zero sample, clamped to a scale of 1
        scale = torch.clamp(self.radius / self.norms(y), max=1.0)  # (batch,)
        return y * scale.reshape((-1,) + (1,) * (y.dim() - 1))

    def extra_repr(self) -> str:
        return f"radius={self.radius:.6g}"


@torch.no_grad()
def clipped_shares(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Share of the samples of ``x`` that each ``BallProjection`` in ``model`` moves.

    Keyed by module name (``model.named_modules()``), in forward order of registration; one
    forward pass of ``x`` with hooks that read each projection's input.
    """
    shares: dict[str, float] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, BallProjection):

            def hook(module, args, name=name):
                shares[name] = float(module.outside(args[0]).double().mean())

            handles.append(module.register_forward_pre_hook(hook))
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return shares
