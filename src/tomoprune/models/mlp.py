"""The DTC paper's MLP, and MLPs of any depth: input -> Linear -> ReLU -> ... -> classes.

``config.hidden`` is one width (the paper's network: input -> hidden -> classes) or a tuple of
widths, first hidden layer first (``--hidden 512,256,128``). The published network has no
biases and no batch normalisation (its class creates a BatchNorm1d but never calls it); both
are options here for users who want them. With one width the layers, the initialisation and
its draw order are exactly the paper network's, so its runs reproduce bit for bit.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tomoprune.config import parse_widths
from tomoprune.models import MODEL_REGISTRY


def xavier_normal_(weight: torch.Tensor, generator: torch.Generator) -> None:
    """Xavier/Glorot-normal initialisation drawn from ``generator`` (same as torch.nn.init)."""
    torch.nn.init.xavier_normal_(weight, generator=generator)


def hidden_widths(hidden: int | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """The MLP's hidden widths as a tuple (validated: positive integers, at least one)."""
    widths = parse_widths(hidden)
    return (widths,) if isinstance(widths, int) else widths


@MODEL_REGISTRY.register("mlp")
def build_mlp(config, input_shape, num_classes: int, generator: torch.Generator) -> nn.Sequential:
    """Input -> each of ``config.hidden`` (ReLU after each) -> ``num_classes``.

    Weights are Xavier-normal, drawn first layer first; biases (when asked for) start at zero.
    """
    in_features = math.prod(input_shape)
    widths = hidden_widths(config.hidden)
    layers: list[nn.Module] = [nn.Flatten()]
    if config.input_batchnorm:
        layers.append(nn.BatchNorm1d(in_features))
    sizes = (in_features, *widths, num_classes)
    linears = [
        nn.Linear(n_in, n_out, bias=config.bias)
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    for linear in linears[:-1]:
        layers += [linear, nn.ReLU()]
    layers.append(linears[-1])
    with torch.no_grad():
        for linear in linears:
            xavier_normal_(linear.weight, generator)
        for linear in linears:
            if linear.bias is not None:
                linear.bias.zero_()
    return nn.Sequential(*layers)
