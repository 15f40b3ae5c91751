"""Save a compressed model without pickle: safetensors weights plus a JSON removal record.

A directory holds ``model.safetensors`` (the compressed model's parameters and buffers) and
``removal.json``::

    {"format": "tomoprune.compressed/1",
     "removal": {"format": "tomoprune.removal/1",
                 "groups": {"<group name>": {"original_width": 512, "kept": [0, 3, ...]}}},
     "architecture": {...} or null,      # how tomoprune builds the original (its own models)
     "groups": [...]}                    # the original model's groups, for people reading it

To reload, build the original model (your own code, or ``architecture`` for tomoprune's
models), apply the recorded removal (``apply_record``) and load the weights; the result is the
saved model exactly, with no code or pickled objects read from disk.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save
from torch import nn

from tomoprune.errors import RecordError
from tomoprune.fileio import atomic_write_bytes, atomic_write_json, read_json
from tomoprune.structure.removal import RemovalRecord, apply_record

SAVED_FORMAT = "tomoprune.compressed/1"
WEIGHTS_FILE = "model.safetensors"
REMOVAL_FILE = "removal.json"


def state_bytes(model: nn.Module) -> bytes:
    """The model's parameters and buffers as safetensors bytes (contiguous CPU copies).

    Tied tensors (a language model's output layer sharing its input embeddings) are written
    once per name; loading them back into the tied model restores the same values."""
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, value in model.state_dict().items():
        value = value.detach().to("cpu").contiguous()
        if value.untyped_storage().data_ptr() in seen:
            value = value.clone()
        seen.add(value.untyped_storage().data_ptr())
        tensors[name] = value
    return save(tensors)


def write_removal(
    directory: str | Path,
    record: RemovalRecord,
    *,
    architecture: dict[str, Any] | None = None,
    groups: Sequence[dict[str, Any]] = (),
) -> Path:
    """Write ``removal.json`` into ``directory`` (atomically)."""
    path = Path(directory) / REMOVAL_FILE
    atomic_write_json(
        path,
        {
            "format": SAVED_FORMAT,
            "removal": record.to_json(),
            "architecture": architecture,
            "groups": list(groups),
        },
    )
    return path


def save_compressed(
    model: nn.Module,
    directory: str | Path,
    record: RemovalRecord,
    *,
    architecture: dict[str, Any] | None = None,
    groups: Sequence[dict[str, Any]] = (),
) -> Path:
    """Write ``model.safetensors`` and ``removal.json`` into ``directory``; return it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(directory / WEIGHTS_FILE, state_bytes(model))
    write_removal(directory, record, architecture=architecture, groups=groups)
    return directory


def read_removal(directory: str | Path) -> tuple[RemovalRecord, dict[str, Any] | None]:
    """The removal record and architecture saved in ``directory``."""
    payload = read_json(Path(directory) / REMOVAL_FILE)
    if not isinstance(payload, dict) or payload.get("format") != SAVED_FORMAT:
        raise RecordError(
            f"{Path(directory) / REMOVAL_FILE}: not a tomoprune compressed-model record."
        )
    return RemovalRecord.from_json(payload["removal"]), payload.get("architecture")


def load_compressed(
    original: nn.Module,
    example_inputs: Any,
    directory: str | Path,
    *,
    ignored_layers: Sequence[nn.Module] = (),
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Rebuild a saved compressed model from a freshly built ``original`` (not modified).

    Raises ``RecordError`` when the record does not fit ``original`` or the weights do not fit
    the rebuilt architecture.
    """
    record, _ = read_removal(directory)
    model = apply_record(original, example_inputs, record, ignored_layers=ignored_layers)
    weights = Path(directory) / WEIGHTS_FILE
    try:
        state = load_file(str(weights), device=str(device))
    except FileNotFoundError:
        raise RecordError(f"{weights}: model weights not found.") from None
    # safetensors keeps no module versions; modules that check theirs on load (torchvision's
    # MNASNet) get those of the freshly built model, which is the code the weights came from
    state = OrderedDict(state)
    state._metadata = getattr(model.state_dict(), "_metadata", None)  # type: ignore[attr-defined]
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise RecordError(
            f"{weights}: the weights do not fit the original model with the recorded removal "
            f"({first}); build the model the record was made from."
        ) from None
    return model.to(device)
