"""Save and rebuild ``nn.Sequential`` models without pickles: a JSON spec plus safetensors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save
from torch import nn

from tomoprune.errors import RecordError, UnsupportedModelError
from tomoprune.records.io import atomic_write_bytes, atomic_write_json, read_json
from tomoprune.structure.layers import LAYER_TYPES, layer_type


def describe(model: nn.Sequential) -> list[dict[str, Any]]:
    """One dict per layer with the constructor arguments needed to rebuild it.

    The layer types are those of ``structure.layers.LAYER_TYPES``, the same table unit groups
    use, so every model that can be pruned can also be described.
    """
    spec: list[dict[str, Any]] = []
    for layer in model:
        entry = layer_type(layer)
        if entry is None:
            raise UnsupportedModelError(
                f"cannot describe layer type {type(layer).__name__}; supported: "
                f"{', '.join(t.__name__ for t in LAYER_TYPES)}."
            )
        spec.append({"type": type(layer).__name__, **entry.describe(layer)})
    return spec


_BUILDERS = {cls.__name__: entry.build for cls, entry in LAYER_TYPES.items()}


def build_from_spec(spec: list[dict[str, Any]]) -> nn.Sequential:
    """Inverse of ``describe`` (weights uninitialised; load a state dict afterwards)."""
    try:
        return nn.Sequential(*(_BUILDERS[item["type"]](item) for item in spec))
    except (KeyError, TypeError) as exc:
        raise RecordError(
            f"model spec is not understood ({exc}); was it written by tomoprune?"
        ) from None


def state_bytes(model: nn.Module) -> bytes:
    """The model's parameters and buffers as safetensors bytes (contiguous copies)."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    return save(tensors)


def save_model(model: nn.Sequential, weights_path: Path, spec_path: Path) -> None:
    """Write the model as safetensors plus its JSON spec, both atomically."""
    atomic_write_json(spec_path, {"format": "tomoprune.sequential/1", "layers": describe(model)})
    atomic_write_bytes(weights_path, state_bytes(model))


def load_model(
    weights_path: Path, spec_path: Path, device: str | torch.device = "cpu"
) -> nn.Sequential:
    """Rebuild a model saved by ``save_model``."""
    spec = read_json(spec_path)
    model = build_from_spec(spec["layers"])
    try:
        state = load_file(str(weights_path), device=str(device))
    except FileNotFoundError:
        raise RecordError(f"{weights_path}: model weights not found.") from None
    model.load_state_dict(state)
    return model.to(device)
