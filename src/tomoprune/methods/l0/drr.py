"""DRR: a smooth surrogate of the l0 norm, added to the loss as an autograd penalty.

Term ``alpha * sum_i (1 - exp(-beta |theta_i|)) + rho ||theta||_2^2`` (each layer's term
scaled by ``1/size`` with ``layer_normalise``). Each summand rises from 0 at ``theta_i = 0``
towards 1 for ``|theta_i| >> 1/beta``, so the sum counts the weights that are clearly non-zero;
``beta`` sets how sharp the count is (5 and 10 are the values used in the paper).
"""

from __future__ import annotations

import torch
from torch import nn

from tomoprune.methods.l0.base import Regulariser
from tomoprune.methods.l0.settings import DRR


class DRRHook(Regulariser):
    """``alpha sum(1 - exp(-beta |theta|)) + rho ||theta||^2`` as a differentiable penalty."""

    name = "drr"

    def __init__(
        self,
        *,
        alpha: float,
        beta: float = 10.0,
        rho: float = 0.0,
        include_biases: bool = True,
        layer_normalise: bool = False,
    ) -> None:
        super().__init__(
            alpha=alpha, rho=rho, include_biases=include_biases, layer_normalise=layer_normalise
        )
        if beta <= 0:
            raise ValueError(f"beta must be positive, got {beta}")
        self.beta = float(beta)

    def value(self, model: nn.Module) -> torch.Tensor:
        terms = []
        for item in self.parameters(model):
            p = item.param
            surrogate = (1.0 - torch.exp(-self.beta * p.abs())).sum()
            terms.append(item.scale * (self.alpha * surrogate + self.rho * p.square().sum()))
        return torch.stack(terms).sum()

    def penalty(self, model: nn.Module) -> torch.Tensor:
        return self.value(model)


def drr_hook(settings: DRR) -> DRRHook:
    """``DRR.build()``: the training hook."""
    return DRRHook(
        alpha=settings.alpha,
        beta=settings.beta,
        rho=settings.rho,
        include_biases=settings.include_biases,
        layer_normalise=settings.layer_normalise,
    )
