"""Which layers a post-training compressor may touch, and the activations it scores with.

The supported layer types are those of the one layer table, ``tomoprune.structure.layers``
(weighted, per-unit and pass-through layers); anything else stops the run with one line naming
the layer.
"""

from __future__ import annotations

import torch
from torch import nn

from tomoprune.errors import ConfigError
from tomoprune.structure.layers import LAYER_TYPES, WEIGHTED

SUPPORTED = tuple(LAYER_TYPES)
# layers f with f(s * u) = s * f(u) for s >= 0, through which a row scale can travel
HOMOGENEOUS = (nn.ReLU, nn.MaxPool2d, nn.Identity, nn.Flatten, nn.Dropout)


def check_supported(model: nn.Module) -> nn.Sequential:
    """The model itself when every layer is supported, else a ConfigError naming the layer."""
    if not isinstance(model, nn.Sequential):
        raise ConfigError(
            f"post-training compression needs an nn.Sequential model; got {type(model).__name__}."
        )
    for index, layer in enumerate(model):
        if not isinstance(layer, SUPPORTED):
            names = ", ".join(sorted({t.__name__ for t in SUPPORTED}))
            raise ConfigError(
                f"layer {index} ({type(layer).__name__}) is not supported by post-training "
                f"compression; supported layer types: {names}."
            )
    return model


def weighted_positions(model: nn.Sequential) -> list[int]:
    """Sequential indices of the Linear/Conv2d layers, in forward order."""
    return [i for i, layer in enumerate(model) if isinstance(layer, WEIGHTED)]


def position_of(model: nn.Sequential, layer: int, setting: str = "method.wide_layers") -> int:
    positions = weighted_positions(model)
    if not 0 <= layer < len(positions):
        raise ConfigError(
            f"The '{setting}' setting names weighted layer {layer}, but the model has "
            f"{len(positions)} (0 .. {len(positions) - 1})."
        )
    return positions[layer]


def next_weighted_position(
    model: nn.Sequential, layer: int, single_setting: str = "method.wide_layers"
) -> int:
    """Sequential position of weighted layer ``layer + 1`` (a pair's scoring depth).

    ``single_setting`` names where a layer compressed on its own belongs, for the error.
    """
    positions = weighted_positions(model)
    if layer + 1 >= len(positions):
        raise ConfigError(
            f"The 'method.pair_layers' setting names layer {layer}, the last weighted layer; a "
            f"pair needs a following layer. Put it in {single_setting} instead."
        )
    return positions[layer + 1]


@torch.no_grad()
def layer_input(model: nn.Sequential, position: int, x: torch.Tensor) -> torch.Tensor:
    """What the layer at Sequential ``position`` receives for inputs ``x``."""
    return model[:position](x) if position else x


@torch.no_grad()
def layer_output(model: nn.Sequential, position: int, x: torch.Tensor) -> torch.Tensor:
    """The pre-activation output of the layer at Sequential ``position``."""
    return model[: position + 1](x)


def check_homogeneous_between(model: nn.Sequential, start: int, stop: int) -> None:
    """Row scaling of layer ``start`` must reach layer ``stop`` unchanged in form."""
    for index in range(start + 1, stop):
        if not isinstance(model[index], HOMOGENEOUS):
            raise ConfigError(
                f"structured pair pruning needs positively homogeneous layers between layers "
                f"{start} and {stop}; layer {index} is {type(model[index]).__name__}."
            )
