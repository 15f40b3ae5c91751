"""TAMADE: the largest global magnitude threshold that costs at most a relative ``delta``.

After regularised training many weights are small but not zero. TAMADE finds, by bisection,
the largest ``eps`` such that zeroing every parameter with ``|theta| < eps`` raises the
calibration (validation) loss by at most ``delta`` relative to the unpruned model::

    loss(prune(theta, eps)) <= (1 + delta) * loss(theta)

The search runs on ``[0, 2 max|theta|]`` and stops when the bracket is narrower than
``tolerance`` (1e-7); the lower end, which always satisfies the bound, is the answer. It
assumes the loss grows with the threshold (bisection needs a monotone criterion); where it does
not, the result is still a threshold that satisfies the bound, just not necessarily the largest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class TamadeResult:
    threshold: float
    base_loss: float  # calibration loss before thresholding
    loss: float  # calibration loss at the threshold found
    evaluations: int  # calibration-loss evaluations spent by the search
    zeroed: int  # parameters newly set to zero by the threshold


def _threshold_(
    params: Sequence[torch.Tensor], originals: Sequence[torch.Tensor], eps: float
) -> None:
    with torch.no_grad():
        for p, original in zip(params, originals, strict=True):
            p.copy_(torch.where(original.abs() < eps, torch.zeros_like(original), original))


def tamade(
    model: nn.Module,
    loss_fn: Callable[[nn.Module], float],
    *,
    delta: float = 0.01,
    tolerance: float = 1e-7,
    params: Sequence[torch.Tensor] | None = None,
) -> TamadeResult:
    """Find and apply (in place) TAMADE's threshold to ``params`` (default: all parameters).

    ``loss_fn(model)`` is the calibration loss (non-negative, e.g. validation cross-entropy).
    """
    if delta < 0:
        raise ValueError(f"delta must be non-negative, got {delta}")
    if tolerance <= 0:
        raise ValueError(f"tolerance must be positive, got {tolerance}")
    params = list(model.parameters()) if params is None else list(params)
    originals = [p.detach().clone() for p in params]
    base_loss = float(loss_fn(model))
    bound = (1.0 + delta) * base_loss
    largest = max((float(o.abs().max()) for o in originals if o.numel()), default=0.0)
    low, high = 0.0, 2.0 * largest
    evaluations = 1
    best_loss = base_loss
    while high - low >= tolerance:
        middle = 0.5 * (low + high)
        _threshold_(params, originals, middle)
        loss = float(loss_fn(model))
        evaluations += 1
        if loss <= bound:
            low, best_loss = middle, loss
        else:
            high = middle
    _threshold_(params, originals, low)
    zeroed = sum(int(((o != 0) & (o.abs() < low)).sum()) for o in originals)
    return TamadeResult(
        threshold=low, base_loss=base_loss, loss=best_loss, evaluations=evaluations, zeroed=zeroed
    )
