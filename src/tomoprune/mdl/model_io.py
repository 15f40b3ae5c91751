"""The byte transformer as the bytes a compressed file stores, and back.

The stored form is ``sparse_export.packed_export_bytes``: presence bits plus float16 values, with
the architecture in the header. A model is always *used* in its stored precision
(``round_trip``), so the code length measured is the one the decoder achieves.
"""

from __future__ import annotations

import json

from torch import nn

from tomoprune.methods.l0.sparse_export import (
    packed_export_bytes,
    packed_metadata,
    read_packed_export,
)
from tomoprune.models.transformer import ByteTransformer, TransformerConfig


def pack_model(model: ByteTransformer) -> bytes:
    """The exported model: its parameters (presence bits + float16) and its architecture."""
    return packed_export_bytes(
        model, metadata={"architecture": json.dumps(model.config.as_dict(), sort_keys=True)}
    )


def unpack_model(data: bytes) -> ByteTransformer:
    """Rebuild the model from :func:`pack_model`'s bytes; ``ValueError`` when they are not."""
    try:
        metadata = packed_metadata(data)
        config = TransformerConfig(**json.loads(metadata["architecture"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a packed byte-transformer export ({exc})") from None
    if config.d_model * config.layers * config.context > 1 << 28:
        raise ValueError("implausibly large architecture in the export's header")
    model = ByteTransformer(config)
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    tensors, _ = read_packed_export(data, shapes)
    model.load_state_dict(tensors, strict=True)
    return model.eval()


def round_trip(model: nn.Module) -> tuple[ByteTransformer, bytes]:
    """``(the model as the decoder will see it, its stored bytes)``."""
    data = pack_model(model)  # type: ignore[arg-type]
    return unpack_model(data), data
