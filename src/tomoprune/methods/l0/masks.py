"""Keep pruned weights at exactly zero while the rest of the network trains.

``MaskHook`` holds one boolean keep-mask per parameter name. It zeroes the masked entries'
gradients before the optimizer step (so momentum-free optimizers leave them alone) and
re-zeroes the weights after the step (Adam's moments from earlier training, or weight decay,
would otherwise move them).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tomoprune.engine.hooks import TrainingHook


def nonzero_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """``{parameter name: param != 0}`` for every parameter of ``model``."""
    return {name: p.detach() != 0 for name, p in model.named_parameters()}


@torch.no_grad()
def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Zero every entry whose mask is False (parameters without a mask are left alone)."""
    for name, p in model.named_parameters():
        mask = masks.get(name)
        if mask is not None:
            p.mul_(mask.to(device=p.device, dtype=p.dtype))


class MaskHook(TrainingHook):
    """Masked training: pruned entries get no gradient and stay exactly zero."""

    name = "mask"

    def __init__(self, masks: dict[str, torch.Tensor]) -> None:
        self.masks = {name: mask.to(torch.bool) for name, mask in masks.items()}
        self._device_masks: dict[str, torch.Tensor] = {}

    def _params(self, model: nn.Module):
        for name, p in model.named_parameters():
            mask = self.masks.get(name)
            if mask is None:
                continue
            if mask.shape != p.shape:
                raise ValueError(
                    f"mask for {name!r} has shape {tuple(mask.shape)} but the parameter has "
                    f"{tuple(p.shape)}"
                )
            cached = self._device_masks.get(name)
            if cached is None or cached.device != p.device or cached.dtype != p.dtype:
                cached = mask.to(device=p.device, dtype=p.dtype)
                self._device_masks[name] = cached
            yield p, cached

    @torch.no_grad()
    def on_phase_start(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        for p, mask in self._params(model):
            p.mul_(mask)

    @torch.no_grad()
    def before_step(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        for p, mask in self._params(model):
            if p.grad is not None:
                p.grad.mul_(mask)

    @torch.no_grad()
    def after_step(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        for p, mask in self._params(model):
            p.mul_(mask)

    def metrics(self) -> dict[str, float]:
        return {"mask_kept": float(sum(int(m.sum()) for m in self.masks.values()))}

    def state_dict(self) -> dict[str, Any]:
        return {"masks": {k: v.cpu() for k, v in self.masks.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.masks = dict(state["masks"])
        self._device_masks = {}
