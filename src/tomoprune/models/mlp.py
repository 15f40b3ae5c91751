"""The DTC paper's MLP: input -> Linear -> ReLU -> Linear -> classes.

The published network has no biases and no batch normalisation (its class creates a
BatchNorm1d but never calls it); both are options here for users who want them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tomoprune.models import MODEL_REGISTRY


def xavier_normal_(weight: torch.Tensor, generator: torch.Generator) -> None:
    """Xavier/Glorot-normal initialisation drawn from ``generator`` (same as torch.nn.init)."""
    torch.nn.init.xavier_normal_(weight, generator=generator)


@MODEL_REGISTRY.register("mlp")
def build_mlp(config, input_shape, num_classes: int, generator: torch.Generator) -> nn.Sequential:
    """784 (or any input) -> ``config.hidden`` -> ``num_classes``, Xavier-normal, first layer first."""
    in_features = math.prod(input_shape)
    layers: list[nn.Module] = [nn.Flatten()]
    if config.input_batchnorm:
        layers.append(nn.BatchNorm1d(in_features))
    first = nn.Linear(in_features, config.hidden, bias=config.bias)
    second = nn.Linear(config.hidden, num_classes, bias=config.bias)
    layers += [first, nn.ReLU(), second]
    with torch.no_grad():
        xavier_normal_(first.weight, generator)
        xavier_normal_(second.weight, generator)
        for layer in (first, second):
            if layer.bias is not None:
                layer.bias.zero_()
    return nn.Sequential(*layers)
