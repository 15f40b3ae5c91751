"""The candidates of one layer's greedy loop and their random replacements.

Unstructured: every weight entry (flat index into the weight tensor), replaced by a draw of
``t`` with mean w. Structured: every input column of a wide layer, or every output row (unit,
filter, with its bias) of a pair layer, multiplied by ``Bernoulli(p) / p``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from tomoprune.posttraining.replacement import TwoPoint, UniformGrid, prune_replacement

Kind = Literal["weight", "column", "row"]


@dataclass
class LayerCandidates:
    """``count`` candidates of ``layer``; ``replacement`` holds one two-point law each.

    For ``kind == "weight"`` the law's values are weight values; for "column" and "row" they
    are multipliers of the original column or row (0 or 1 / p).
    """

    layer: nn.Module
    kind: Kind
    replacement: TwoPoint  # flat, one entry per candidate
    original_weight: torch.Tensor
    original_bias: torch.Tensor | None

    @property
    def count(self) -> int:
        return int(self.replacement.low.numel())

    @torch.no_grad()
    def set(self, index: int, value: float) -> None:
        """Give candidate ``index`` the value ``value`` (a weight or a multiplier)."""
        weight = self.layer.weight
        if self.kind == "weight":
            weight.view(-1)[index] = value
        elif self.kind == "column":
            weight[:, index] = self.original_weight[:, index] * value
        else:
            weight[index] = self.original_weight[index] * value
            if self.original_bias is not None:
                self.layer.bias[index] = self.original_bias[index] * value

    @torch.no_grad()
    def set_many(self, indices: torch.Tensor, values: torch.Tensor) -> None:
        """``set`` for many distinct candidates at once (same result as one by one)."""
        if self.kind == "weight":
            self.layer.weight.view(-1)[indices] = values.to(self.layer.weight.dtype)
            return
        for index, value in zip(indices.tolist(), values.tolist(), strict=True):
            self.set(index, value)


def make_candidates(
    layer: nn.Module,
    *,
    kind: Kind,
    mode: str,
    p: float,
    grid: UniformGrid | None,
) -> LayerCandidates:
    weight = layer.weight.detach()
    bias = None if layer.bias is None else layer.bias.detach().clone()
    if kind == "weight":
        flat = weight.reshape(-1)
        if mode == "prune":
            law = prune_replacement(flat, p)
        else:
            assert grid is not None
            law = grid.stochastic(flat)
    else:
        count = weight.shape[1] if kind == "column" else weight.shape[0]
        law = prune_replacement(torch.ones(count, dtype=weight.dtype, device=weight.device), p)
    return LayerCandidates(
        layer=layer,
        kind=kind,
        replacement=law,
        original_weight=weight.clone(),
        original_bias=bias,
    )
