"""Data-aware unit scorers: first-order Taylor and activation-weighted magnitude (Wanda-style).

Both read calibration batches from ``ctx.calibration()`` (``(inputs, targets)``; inputs a
tensor or a dict of keyword inputs) and score a unit by what removing it does, which is zeroing
its outgoing columns (the consumer weights ``W[:, columns of j]``):

- ``taylor``: the first-order change of the loss when those columns go to zero,
  ``|sum over the unit's consumer columns of w * dL/dw|``, gradients summed over the batches
  (Molchanov et al., 2019, per unit). The loss is the model output's own ``loss`` when it has
  one (a Hugging Face model given ``labels``), else cross-entropy of the first output tensor
  against the targets.
- ``activation``: per unit, ``||x_j||_2 * sum_i |W_ij|`` over its consumer columns, where
  ``x_j`` is the unit's input to the consumer over all calibration samples and positions: the
  Wanda weight score (Sun et al., 2023) summed over the unit's weights.

The whole model is run once per cycle and the per-layer results are kept for the other groups
of the same model. The settings (``Taylor``, ``Activation``) are in ``settings``; this module
is the work their ``score`` does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from tomoprune.errors import ConfigError
from tomoprune.methods.neuron.scoring import ScoreResult
from tomoprune.methods.neuron.scoring.context import GroupWeights, ScoringContext
from tomoprune.methods.neuron.scoring.settings import Activation, Taylor


def _batches(ctx: ScoringContext, count: int) -> list[tuple[Any, Any]]:
    if ctx.calibration is None:
        raise ConfigError(
            "this scorer needs calibration data; pass Compressor(..., calibration=(inputs, "
            "targets)) or run it through tomoprune run, which supplies the calibration split."
        )
    return [ctx.calibration() for _ in range(count)]


def _call(model: nn.Module, inputs: Any) -> Any:
    return model(**inputs) if isinstance(inputs, dict) else model(inputs)


def _loss(output: Any, targets: Any) -> torch.Tensor:
    from tomoprune.structure.groups import tensors_of

    loss = getattr(output, "loss", None)
    if loss is not None:
        return loss
    logits = tensors_of(output)[0]
    if targets is None:
        raise ConfigError("the taylor scorer needs targets in its calibration batches.")
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


# The last model's per-layer results, per scorer kind: computed once for all groups of a cycle.
# Kept out of the method's state (which is checkpointed) because it is derived, not random.
_LATEST: dict[str, tuple[Any, Any]] = {}


def _cached(ctx: ScoringContext, key: str, model: nn.Module, compute) -> Any:
    # a model pruned in place (Torch-Pruning) keeps its id, so its size is part of the key
    slot = (ctx.cycle, id(model), sum(p.numel() for p in model.parameters()))
    held = _LATEST.get(key)
    if held is None or held[0] != slot:
        _LATEST.pop(key, None)
        held = (slot, compute())
        _LATEST[key] = held
    return held[1]


def _consumer_weight(model: nn.Module, tensor: str, dim: int) -> torch.Tensor:
    """A consumer tensor with its unit dimension second, kernels summed away later."""
    return model.get_parameter(tensor).detach().movedim(dim, 1)


def _per_unit(values: torch.Tensor, member: Any, width: int) -> torch.Tensor:
    out = torch.zeros(width, dtype=torch.float64)
    return out.index_add_(0, member.units, values.double().cpu())


def _gradients(batches: int, model: nn.Module, ctx: ScoringContext) -> dict[str, torch.Tensor]:
    """The loss gradient of every parameter, summed over ``batches`` calibration batches."""
    grads = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    was_training = model.training
    model.eval()
    try:
        for inputs, targets in _batches(ctx, batches):
            model.zero_grad(set_to_none=True)
            with torch.enable_grad():
                _loss(_call(model, inputs), targets).backward()
            for name, p in model.named_parameters():
                if p.grad is not None:
                    grads[name] += p.grad.detach()
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return grads


def taylor_scores(settings: Taylor, weights: GroupWeights, ctx: ScoringContext) -> ScoreResult:
    """``Taylor.score``: |sum of w * dL/dw| over each unit's consumer columns."""
    model, group = weights.model, weights.group
    grads = _cached(
        ctx, "taylor-gradients", model, lambda: _gradients(settings.batches, model, ctx)
    )
    total = torch.zeros(group.width, dtype=torch.float64)
    for member in group.by_role("consumer"):
        w = _consumer_weight(model, member.tensor, member.dim)
        g = grads[member.tensor].movedim(member.dim, 1)
        product = (w * g).transpose(0, 1).reshape(w.shape[1], -1).sum(dim=1)
        total += _per_unit(product.index_select(0, member.positions), member, group.width)
    return ScoreResult(scores=total.abs().numpy())


def _channel_dim(module: nn.Module) -> int:
    return 1 if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) else -1


def _norms(batches: int, model: nn.Module, ctx: ScoringContext) -> dict[str, torch.Tensor]:
    """Per layer, the squared L2 norm of each input channel over all samples and positions."""
    sums: dict[str, torch.Tensor] = {}
    handles = []
    for name, module in model.named_modules():
        if not any(True for _ in module.parameters(recurse=False)):
            continue

        def hook(module: nn.Module, args: tuple, kwargs: dict, name: str = name) -> None:
            first = next((a for a in (*args, *kwargs.values()) if torch.is_tensor(a)), None)
            if first is None or not first.is_floating_point():
                return
            x = first.detach().double().movedim(_channel_dim(module), -1)
            square = x.reshape(-1, x.shape[-1]).square().sum(dim=0).cpu()
            sums[name] = sums[name] + square if name in sums else square

        handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for inputs, _ in _batches(ctx, batches):
                _call(model, inputs)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return sums


def activation_scores(
    settings: Activation, weights: GroupWeights, ctx: ScoringContext
) -> ScoreResult:
    """``Activation.score``: input norm times |outgoing weights|, per unit."""
    model, group = weights.model, weights.group
    norms = _cached(ctx, "activation-norms", model, lambda: _norms(settings.batches, model, ctx))
    total = torch.zeros(group.width, dtype=torch.float64)
    for member in group.by_role("consumer"):
        owner = member.tensor.rpartition(".")[0]
        w = _consumer_weight(model, member.tensor, member.dim).abs()
        magnitude = w.transpose(0, 1).reshape(w.shape[1], -1).sum(dim=1).double().cpu()
        squares = norms.get(owner)
        if squares is None:
            continue  # the consumer never ran on the calibration data
        if squares.numel() != magnitude.numel():  # a grouped conv: channels folded
            squares = squares.reshape(-1, magnitude.numel()).sum(dim=0)
        per_column = squares.sqrt() * magnitude
        total += _per_unit(per_column.index_select(0, member.positions), member, group.width)
    return ScoreResult(scores=total.numpy())


__all__ = ["activation_scores", "taylor_scores"]
