"""The LeNet models of the l0-family experiments (Barth & von Petersenn, arXiv:2505.17469).

Both are plain ``nn.Sequential`` stacks of standard layers, so their unit groups (conv
channels and fc units, ``tomoprune.structure``) can be removed and ``models.spec`` can save and
rebuild them:

- ``lenet300``: LeNet-300-100, input -> 300 -> 100 -> classes with ReLU between.
- ``lenet5``: the Caffe variant of LeNet-5: conv 20 (5x5) -> max-pool 2 -> conv 50 (5x5) ->
  max-pool 2 -> fc 500 -> ReLU -> fc classes. As in Caffe's ``lenet_train_test.prototxt``
  there is no non-linearity after the convolutions; the only ReLU follows fc 500.

Initialisation is PyTorch's default for these layers (Kaiming-uniform with ``a = sqrt(5)``
for weights, uniform in ``+-1/sqrt(fan_in)`` for biases), drawn from the ``generator`` passed
in so a run is reproducible. ``config.bias`` switches the biases (the l0 methods turn them on
through their run defaults); ``config.hidden`` and ``config.input_batchnorm`` only concern the
DTC MLP and are ignored here.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tomoprune.models import MODEL_REGISTRY


def init_layer_(layer: nn.Linear | nn.Conv2d, generator: torch.Generator) -> None:
    """PyTorch's default initialisation of ``layer``, drawn from ``generator``."""
    with torch.no_grad():
        nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
        if layer.bias is not None:
            fan_in = layer.weight[0].numel()
            bound = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


def _initialised(model: nn.Sequential, generator: torch.Generator) -> nn.Sequential:
    for layer in model:  # first layer first, so the draw order is fixed
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            init_layer_(layer, generator)
    return model


@MODEL_REGISTRY.register("lenet300")
def build_lenet300(
    config, input_shape: tuple[int, ...], num_classes: int, generator: torch.Generator
) -> nn.Sequential:
    """LeNet-300-100: ``prod(input_shape)`` -> 300 -> 100 -> ``num_classes``."""
    in_features = math.prod(input_shape)
    bias = config.bias
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_features, 300, bias=bias),
        nn.ReLU(),
        nn.Linear(300, 100, bias=bias),
        nn.ReLU(),
        nn.Linear(100, num_classes, bias=bias),
    )
    return _initialised(model, generator)


@MODEL_REGISTRY.register("lenet5")
def build_lenet5(
    config, input_shape: tuple[int, ...], num_classes: int, generator: torch.Generator
) -> nn.Sequential:
    """Caffe LeNet-5 for ``(C, H, W)`` inputs (800 features into fc 500 for 1x28x28)."""
    channels, height, width = input_shape
    # shapes: (C, H, W) -> conv5 -> (20, H-4, W-4) -> pool2 -> conv5 -> pool2 -> (50, h, w)
    h = ((height - 4) // 2 - 4) // 2
    w = ((width - 4) // 2 - 4) // 2
    if h < 1 or w < 1:
        raise ValueError(f"LeNet-5 needs inputs of at least 16x16 pixels, got {height}x{width}")
    bias = config.bias
    model = nn.Sequential(
        nn.Conv2d(channels, 20, 5, bias=bias),
        nn.MaxPool2d(2, stride=2),
        nn.Conv2d(20, 50, 5, bias=bias),
        nn.MaxPool2d(2, stride=2),
        nn.Flatten(),
        nn.Linear(50 * h * w, 500, bias=bias),
        nn.ReLU(),
        nn.Linear(500, num_classes, bias=bias),
    )
    return _initialised(model, generator)
