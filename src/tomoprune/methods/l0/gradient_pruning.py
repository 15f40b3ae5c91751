"""Random gradient pruning and the physical deletion of disconnected units.

After thresholding, some surviving weights can no longer influence the output: the incoming
weights of a unit whose outgoing connections are all pruned, the outgoing weights of a ReLU unit
with no input and no positive bias, and so on down the chain. One backward pass finds them:
feed a Gaussian random input batch, take the squared error to a Gaussian random target, and
every parameter whose gradient is *exactly* zero is disconnected from the output and is set to
zero (``random_gradient_prune``).

Element-wise activations gate gradients by data: a ReLU unit that happens to be inactive for
the whole random batch also gets zero gradients although it is active on real data (on the
Caffe LeNet-5, 56k weights of fc 500 units that random noise never switches on; zeroing them
raised the validation loss by 18%). By default (``activations="linear"``) the pass therefore
runs on a copy of the network whose zero-preserving element-wise activations (ReLU, Tanh, ...)
are replaced by the identity, so a gradient is zero only where the connection structure cuts the parameter
off from the output. ``activations="model"`` runs the network as it is (the literal test); the
l0 method records the calibration loss around every pass so any harm is visible.

``dead_units`` and ``remove_dead_units`` then delete hidden units whose outgoing weights are all
zero (a unit that cannot reach any consumer), through the model's unit groups
(``tomoprune.structure``), so conv channels, residual-coupled channels and fc units are handled
alike; this never changes the network's output.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from tomoprune.structure import Removal, apply_removal, find_groups, plan_removal
from tomoprune.structure.elementwise import ZERO_AT_ZERO
from tomoprune.structure.weights import outgoing_nonzeros


@dataclass(frozen=True)
class GradientPruneResult:
    zeroed: int  # non-zero parameters set to zero by this pass
    per_parameter: dict[str, int]  # the same count per parameter name


def random_gradient_prune(
    model: nn.Module,
    input_shape: tuple[int, ...],
    *,
    generator: torch.Generator,
    batch_size: int = 1024,
    activations: Literal["linear", "model"] = "linear",
) -> GradientPruneResult:
    """Zero (in place) every parameter whose gradient on a random Gaussian batch is exactly 0.

    ``input_shape`` is one sample's shape; inputs and targets are drawn from ``generator`` (a CPU
    generator) and moved to the model's device. ``activations`` chooses whether the pass runs
    through the model's own activations ("model") or with them opened up ("linear", see the
    module docstring).
    """
    if activations not in ("linear", "model"):
        raise ValueError(f"activations must be 'linear' or 'model', got {activations!r}")
    probe = linearised(model) if activations == "linear" else model
    params = dict(model.named_parameters())
    probe_params = dict(probe.named_parameters())
    device = next(iter(params.values())).device
    # a model whose inputs are ids rather than real values (the byte transformer) draws its
    # own random inputs
    make_input = getattr(model, "random_input", None)
    if make_input is not None:
        x = make_input(batch_size, generator).to(device)
    else:
        x = torch.randn((batch_size, *input_shape), generator=generator).to(device)
    was_training = probe.training
    probe.eval()
    try:
        with torch.enable_grad():
            output = probe(x)
            target = torch.randn(output.shape, generator=generator).to(device)
            loss = (output - target).square().mean()
            grads = torch.autograd.grad(loss, list(probe_params.values()), allow_unused=True)
    finally:
        probe.train(was_training)
    per_parameter: dict[str, int] = {}
    with torch.no_grad():
        for (name, p), grad in zip(params.items(), grads, strict=True):
            # a parameter the output does not use at all (grad None) is disconnected too
            dead = torch.ones_like(p, dtype=torch.bool) if grad is None else grad == 0
            newly = dead & (p != 0)
            per_parameter[name] = int(newly.sum())
            p.masked_fill_(dead, 0.0)
    return GradientPruneResult(zeroed=sum(per_parameter.values()), per_parameter=per_parameter)


def linearised(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with its ``ZERO_AT_ZERO`` activations replaced by the identity (so
    a unit with no input stays silent when opened up; Sigmoid, f(0) = 1/2 and derivative never
    0, needs no opening and is left alone)."""
    copied = copy.deepcopy(model)
    for name, module in list(copied.named_modules()):
        if isinstance(module, ZERO_AT_ZERO):
            parent_name, _, attr = name.rpartition(".")
            parent = copied.get_submodule(parent_name) if parent_name else copied
            setattr(parent, attr, nn.Identity())
    return copied


def dead_units(model: nn.Module, example_inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{group name: indices of its units with no non-zero outgoing weight}``."""
    return {
        group.name: torch.nonzero(outgoing_nonzeros(model, group) == 0).flatten()
        for group in find_groups(model, example_inputs)
    }


def remove_dead_units(
    model: nn.Module, example_inputs: torch.Tensor
) -> tuple[nn.Module, dict[str, int], Removal]:
    """A physically smaller copy without dead units, how many each group lost, and the removal.

    A group whose units are all dead keeps its first unit (its weights are zero), so the
    network keeps its shape contract; its output is then a constant.
    """
    groups = find_groups(model, example_inputs)
    keep: dict[str, torch.Tensor] = {}
    removed: dict[str, int] = {}
    for group in groups:
        alive = outgoing_nonzeros(model, group) > 0
        if not alive.any():
            alive[0] = True
        removed[group.name] = int((~alive).sum())
        if removed[group.name]:
            keep[group.name] = torch.nonzero(alive).flatten()
    removal = plan_removal(model, groups, keep)
    return apply_removal(model, removal), removed, removal
