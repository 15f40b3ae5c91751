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

from tomoprune.regularizers.base import REGULARISER_REGISTRY, Ridge, _add_grad


@REGULARISER_REGISTRY.register("rl1")
class RL1(Ridge):
    """``alpha ||theta||_1 + rho ||theta||_2^2`` applied as a subgradient in ``before_step``."""

    name = "rl1"

    def __init__(
        self,
        *,
        alpha: float,
        rho: float = 0.0,
        include_biases: bool = True,
        layer_normalise: bool = False,
    ) -> None:
        super().__init__(rho=rho, include_biases=include_biases, layer_normalise=layer_normalise)
        self.alpha = float(alpha)

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

    def relaxed(self):
        """Ridge alone (the l1 term dropped), or None when rho = 0."""
        if self.rho == 0.0:
            return None
        return Ridge(
            rho=self.rho, include_biases=self.include_biases, layer_normalise=self.layer_normalise
        )
