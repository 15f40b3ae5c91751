"""Built-in models, registered by name.

Any ``nn.Module`` can be compressed (``tomoprune.structure`` finds its unit groups); the
built-in models are plain ``nn.Sequential`` stacks of the layer types in
``tomoprune.structure.layers``, so they are also saved as safetensors plus a small JSON spec.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from tomoprune.registry import Registry

# name -> builder(model_config, input_shape (C, H, W), num_classes, generator) -> nn.Sequential
ModelBuilder = Callable[..., nn.Sequential]
MODEL_REGISTRY: Registry[ModelBuilder] = Registry("model")


def load_builtin_models() -> None:
    """Import the modules that register the built-in models (idempotent)."""
    import tomoprune.models.lenet  # noqa: F401
    import tomoprune.models.mlp  # noqa: F401


def build_model(
    config,
    input_shape: tuple[int, ...],
    num_classes: int,
    generator: torch.Generator,
) -> nn.Sequential:
    """Build and initialise the model named by ``config.name`` (a ModelConfig)."""
    load_builtin_models()
    return MODEL_REGISTRY.get(config.name)(config, tuple(input_shape), num_classes, generator)
