"""R-L1: the l1 norm (plus an optional ridge term) as a subgradient added before each step.

Objective ``L(theta) + alpha ||theta||_1 + rho ||theta||_2^2`` (each layer's term scaled by
``1/size`` with ``layer_normalise``). The subgradient ``alpha sign(theta) + 2 rho theta`` is
added to the loss gradient after ``backward`` and before the optimizer (Adam) steps, so the
optimizer sees the regularised gradient. Adam's per-weight normalisation means weights hover
near zero rather than landing on it, which is why the method ends with TAMADE thresholding.
"Relaxed" R-L1 drops the l1 term in the masked fine-tuning phase (``relaxed()``).
"""

from __future__ import annotations

import torch
from torch import nn

from tomoprune.methods.l0.base import Regulariser, _add_grad
from tomoprune.methods.l0.settings import RL1


class RL1Hook(Regulariser):
    """``alpha ||theta||_1 + rho ||theta||_2^2`` applied as a subgradient in ``before_step``;
    relaxed (fine-tuning) keeps the ridge term alone."""

    name = "rl1"

    def value(self, model: nn.Module) -> torch.Tensor:
        terms = [
            item.scale
            * (self.alpha * item.param.abs().sum() + self.rho * item.param.square().sum())
            for item in self.parameters(model)
        ]
        return torch.stack(terms).sum()

    @torch.no_grad()
    def before_step(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        for item in self.parameters(model):
            p = item.param
            # sign(0) = 0: the subgradient of |x| at 0 chosen by autograd as well
            _add_grad(p, item.scale * (self.alpha * torch.sign(p) + (2.0 * self.rho) * p))


def rl1_hook(settings: RL1) -> RL1Hook:
    """``RL1.build()``: the training hook."""
    return RL1Hook(
        alpha=settings.alpha,
        rho=settings.rho,
        include_biases=settings.include_biases,
        layer_normalise=settings.layer_normalise,
    )
