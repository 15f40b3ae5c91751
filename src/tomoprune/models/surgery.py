"""Physically remove hidden units from a Sequential model (no masks).

Removing output unit ``j`` of layer ``i`` (a Linear row or a Conv2d channel) also removes the
matching per-unit state downstream (BatchNorm statistics and affine parameters) and the
matching input columns of the next Linear/Conv2d layer; a Flatten between a Conv2d and a
Linear maps each removed channel to its block of flattened columns.

The same index plan slices any per-parameter state (e.g. Adam moments), so training can
continue from the smaller model as if the removed units had never existed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

WEIGHTED = (nn.Linear, nn.Conv2d)
PER_UNIT = (nn.BatchNorm1d, nn.BatchNorm2d)
PASS_THROUGH = (nn.ReLU, nn.MaxPool2d, nn.Identity, nn.Tanh, nn.Sigmoid, nn.Dropout)


@dataclass(frozen=True)
class Slice:
    """Keep ``index`` along ``dim`` of one named parameter or buffer."""

    dim: int
    index: torch.Tensor


def prunable_layers(model: nn.Sequential) -> list[int]:
    """Indices of Linear/Conv2d layers whose output units feed another weighted layer."""
    weighted = [i for i, layer in enumerate(model) if isinstance(layer, WEIGHTED)]
    return weighted[:-1]


def unit_count(model: nn.Sequential, layer_index: int) -> int:
    layer = model[layer_index]
    return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels


def removal_plan(model: nn.Sequential, layer_index: int, keep: torch.Tensor) -> dict[str, Slice]:
    """Which rows/columns of which tensors survive when only units ``keep`` of a layer stay."""
    layers = list(model)
    layer = layers[layer_index]
    if not isinstance(layer, WEIGHTED) or layer_index not in prunable_layers(model):
        raise ValueError(f"layer {layer_index} ({type(layer).__name__}) has no prunable units")
    keep = torch.as_tensor(keep, dtype=torch.long).flatten().cpu()
    units = unit_count(model, layer_index)
    if keep.numel() == 0 or int(keep.min()) < 0 or int(keep.max()) >= units:
        raise ValueError(f"keep indices must be a non-empty subset of 0..{units - 1}")
    plan = {f"{layer_index}.weight": Slice(0, keep)}
    if layer.bias is not None:
        plan[f"{layer_index}.bias"] = Slice(0, keep)
    columns = keep
    for j in range(layer_index + 1, len(layers)):
        nxt = layers[j]
        if isinstance(nxt, PER_UNIT):
            names = ["running_mean", "running_var"] + (["weight", "bias"] if nxt.affine else [])
            for name in names:
                plan[f"{j}.{name}"] = Slice(0, columns)
        elif isinstance(nxt, nn.Flatten):
            following = next(m for m in layers[j + 1 :] if isinstance(m, WEIGHTED))
            per_channel = following.in_features // units
            offsets = torch.arange(per_channel)
            columns = (columns[:, None] * per_channel + offsets[None, :]).flatten()
        elif isinstance(nxt, WEIGHTED):
            plan[f"{j}.weight"] = Slice(1, columns)
            return plan
        elif not isinstance(nxt, PASS_THROUGH):
            raise ValueError(f"cannot carry units through layer type {type(nxt).__name__}")
    raise ValueError("no weighted layer follows the pruned layer")


def apply_plan(model: nn.Sequential, plan: dict[str, Slice]) -> nn.Sequential:
    """A new model with every tensor named in ``plan`` sliced; everything else copied."""
    new = copy.deepcopy(model)
    for name, cut in plan.items():
        module_name, attr = name.rsplit(".", 1)
        module = new.get_submodule(module_name)
        old = getattr(module, attr)
        data = old.detach().index_select(cut.dim, cut.index.to(old.device)).clone()
        if isinstance(old, nn.Parameter):
            setattr(module, attr, nn.Parameter(data, requires_grad=old.requires_grad))
        else:
            module.register_buffer(attr, data)
    for module in new:
        _sync_shape_attributes(module)
    return new


def _sync_shape_attributes(module: nn.Module) -> None:
    """Make a sliced layer's size attributes agree with its tensors."""
    if isinstance(module, nn.Linear):
        module.out_features, module.in_features = module.weight.shape
    elif isinstance(module, nn.Conv2d):
        module.out_channels = module.weight.shape[0]
        module.in_channels = module.weight.shape[1] * module.groups
    elif isinstance(module, PER_UNIT):
        module.num_features = module.running_mean.shape[0]


def remove_units(model: nn.Sequential, layer_index: int, keep: torch.Tensor) -> nn.Sequential:
    """A physically smaller copy of ``model`` keeping only units ``keep`` of ``layer_index``."""
    return apply_plan(model, removal_plan(model, layer_index, keep))


def slice_parameter_state(
    old_model: nn.Sequential,
    new_model: nn.Sequential,
    plan: dict[str, Slice],
    state: dict[str, dict[str, torch.Tensor]],
) -> dict[str, dict[str, torch.Tensor]]:
    """Slice per-parameter state (keyed by parameter name) exactly like the parameters.

    Tensors shaped like their parameter are sliced with the plan; scalars (e.g. Adam's step)
    are kept.
    """
    del new_model  # shapes follow from the plan; kept in the signature for symmetry
    params = dict(old_model.named_parameters())
    out: dict[str, dict[str, torch.Tensor]] = {}
    for name, entry in state.items():
        cut = plan.get(name)
        new_entry = {}
        for key, value in entry.items():
            if cut is not None and torch.is_tensor(value) and value.shape == params[name].shape:
                value = value.index_select(cut.dim, cut.index.to(value.device)).clone()
            new_entry[key] = value
        out[name] = new_entry
    return out
