"""Built-in models by name: ``mlp`` (any depth), ``lenet300``, ``lenet5`` and ``resnet``.

Any ``nn.Module`` can be compressed (``tomoprune.structure`` finds its unit groups). The MLPs
and LeNets are plain ``nn.Sequential`` stacks of the layer types in ``tomoprune.structure.layers``,
saved as safetensors plus a JSON list of layers; ``resnet`` (residual additions) is a plain
``nn.Module`` whose spec is its builder's name and arguments.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import nn

from tomoprune.errors import ConfigError
from tomoprune.registry import Registry

# name -> builder(model_config, input_shape (C, H, W), num_classes, generator) -> nn.Module
ModelBuilder = Callable[..., nn.Module]
MODEL_REGISTRY: Registry[ModelBuilder] = Registry("model")


def load_builtin_models() -> None:
    """Import the modules that register the built-in models (idempotent)."""
    import tomoprune.models.lenet  # noqa: F401
    import tomoprune.models.mlp  # noqa: F401
    import tomoprune.models.resnet  # noqa: F401


def build_model(
    config,
    input_shape: tuple[int, ...],
    num_classes: int,
    generator: torch.Generator,
) -> nn.Module:
    """Build and initialise the model named by ``config.name`` (a ModelConfig).

    A builder's ``ValueError`` (a setting the architecture cannot take, e.g. images too small)
    becomes a one-line ``ConfigError`` naming the model.
    """
    load_builtin_models()
    builder = MODEL_REGISTRY.get(config.name)
    try:
        return builder(config, tuple(input_shape), num_classes, generator)
    except ValueError as exc:
        raise ConfigError(f"The '{config.name}' model cannot be built here: {exc}.") from None


# bytes per parameter while training with Adam: float32 weight, gradient and two moments
TRAINING_BYTES_PER_PARAMETER = 16


def check_model_fits(
    config, input_shape: tuple[int, ...], num_classes: int, available_bytes: int | None = None
) -> int:
    """Refuse a model too large to train here, from an estimate made before any allocation.

    The model is built on PyTorch's ``meta`` device (shapes only, no memory), its parameters
    counted, and the training footprint (weights, gradients, Adam's two moments) compared with
    the memory available now. Returns the parameter count.
    """
    with torch.device("meta"):
        model = build_model(config, input_shape, num_classes, torch.Generator())
    parameters = sum(p.numel() for p in model.parameters())
    if available_bytes is None:
        available_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    needed = parameters * TRAINING_BYTES_PER_PARAMETER
    if needed > available_bytes:
        raise ConfigError(
            f"The '{config.name}' model with these settings (model.hidden={config.hidden}) has "
            f"{parameters:,} parameters, about {needed / 2**30:,.1f} GiB to train with Adam; "
            f"{available_bytes / 2**30:,.1f} GiB of memory is available. Use a smaller "
            "--hidden (or --set model.*)."
        )
    return parameters
