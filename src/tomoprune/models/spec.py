"""Save and rebuild models without pickles: a JSON spec plus safetensors.

Two kinds of spec:

- an ``nn.Sequential`` of standard layers is described layer by layer (``describe``: a list of
  dicts, format ``tomoprune.sequential/1``), so a physically pruned stack rebuilds exactly;
- a built-in model that is not a Sequential (``resnet``) carries ``builder_arguments``; its spec
  is the registered builder's name plus those arguments (format ``tomoprune.builtin/1``), and it
  is rebuilt by name (``models.resnet.rebuild``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save
from torch import nn

from tomoprune.errors import RecordError, UnsupportedModelError
from tomoprune.fileio import atomic_write_bytes, atomic_write_json, read_json
from tomoprune.models.resnet import BUILDER_NAME, ResNet, rebuild
from tomoprune.models.transformer import ByteTransformer, TransformerConfig
from tomoprune.structure.layers import LAYER_TYPES, layer_type

SEQUENTIAL_FORMAT = "tomoprune.sequential/1"
BUILTIN_FORMAT = "tomoprune.builtin/1"
TRANSFORMER_BUILDER = "byte-transformer"


def builtin_spec(model: nn.Module) -> dict[str, Any] | None:
    """``{"builder": name, "arguments": {...}}`` for a non-Sequential built-in, else None."""
    arguments = getattr(model, "builder_arguments", None)
    if isinstance(model, nn.Sequential) or arguments is None:
        return None
    if not isinstance(model, ResNet):
        return None
    return {"builder": BUILDER_NAME, "arguments": dict(arguments)}


def _transformer_spec(model: nn.Module) -> dict[str, Any] | None:
    """The byte transformer's spec: its architecture (a ``TransformerConfig``)."""
    if not isinstance(model, ByteTransformer):
        return None
    return {"builder": TRANSFORMER_BUILDER, "arguments": model.config.as_dict()}


def describe(model: nn.Module) -> list[dict[str, Any]] | dict[str, Any]:
    """One dict per layer with the constructor arguments needed to rebuild it.

    The layer types are those of ``structure.layers.LAYER_TYPES``, the same table unit groups
    use, so every model that can be pruned can also be described. For a non-Sequential
    built-in (``builtin_spec``) the builder's name and arguments instead.
    """
    builtin = builtin_spec(model) or _transformer_spec(model)
    if builtin is not None:
        return builtin
    if not isinstance(model, nn.Sequential):
        raise UnsupportedModelError(
            f"cannot describe a {type(model).__name__}: only nn.Sequential stacks and the "
            "built-in models can be saved with their architecture."
        )
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


def build_from_spec(spec: list[dict[str, Any]] | dict[str, Any]) -> nn.Module:
    """Inverse of ``describe`` (weights uninitialised; load a state dict afterwards)."""
    try:
        if isinstance(spec, dict):
            if spec["builder"] == TRANSFORMER_BUILDER:
                return ByteTransformer(TransformerConfig(**spec["arguments"]))
            if spec["builder"] != BUILDER_NAME:
                raise KeyError(spec["builder"])
            return rebuild(spec["arguments"])
        return nn.Sequential(*(_BUILDERS[item["type"]](item) for item in spec))
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(
            f"model spec is not understood ({exc}); was it written by tomoprune?"
        ) from None


def state_bytes(model: nn.Module) -> bytes:
    """The model's parameters and buffers as safetensors bytes (contiguous copies)."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    return save(tensors)


def save_model(model: nn.Module, weights_path: Path, spec_path: Path) -> None:
    """Write the model as safetensors plus its JSON spec, both atomically."""
    spec = describe(model)
    if isinstance(spec, dict):
        payload = {"format": BUILTIN_FORMAT, **spec}
    else:
        payload = {"format": SEQUENTIAL_FORMAT, "layers": spec}
    atomic_write_json(spec_path, payload)
    atomic_write_bytes(weights_path, state_bytes(model))


def load_model(
    weights_path: Path, spec_path: Path, device: str | torch.device = "cpu"
) -> nn.Module:
    """Rebuild a model saved by ``save_model``."""
    spec = read_json(spec_path)
    if spec.get("format") == BUILTIN_FORMAT:
        model = build_from_spec(
            {"builder": spec.get("builder"), "arguments": spec.get("arguments")}
        )
    else:
        model = build_from_spec(spec.get("layers"))
    try:
        state = load_file(str(weights_path), device=str(device))
    except FileNotFoundError:
        raise RecordError(f"{weights_path}: model weights not found.") from None
    model.load_state_dict(state)
    return model.to(device)
