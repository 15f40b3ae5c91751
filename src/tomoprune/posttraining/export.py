"""Exports that store what the compressors produced, and reload to the same model.

- ``save_quantized`` / ``load_quantized``: one safetensors file. Each quantized layer is stored
  as its integer codes bit-packed row by row (little-endian bit order: at 4 bits two codes per
  byte, low nibble first, the usual int4 layout), its scales and zero points per (row, group)
  and its column-to-group index (non-monotone after act-order); every other tensor of the
  state dict is stored as is (a tied tensor once). Reloading dequantizes ``scale * (code -
  zero)`` in float32, the same arithmetic the driver used, so the reloaded model is the
  compressed one bit for bit.
- ``semi_structured_24``: a 2:4 sparse weight in the layout of ``torch.sparse``'s semi-structured
  tensors (CUTLASS: the kept values, (rows, columns / 2), and int16 metadata of their
  positions), computed with PyTorch's own conversion on any device. The format exists for
  float16 / bfloat16 (and int8), as the sparse tensor cores do; ``dense_from_24`` inverts it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save
from torch import nn

from tomoprune.errors import ConfigError
from tomoprune.fileio import atomic_write_bytes
from tomoprune.posttraining.driver import PostTrainingReport
from tomoprune.posttraining.grid import QuantState
from tomoprune.posttraining.layers import set_weight_matrix

FORMAT = "tomoprune-posttraining-quantized/1"


def pack_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """(rows, columns) integer codes -> (rows, ceil(columns * bits / 8)) uint8."""
    c = codes.detach().cpu().numpy().astype(np.uint32)
    planes = (c[..., None] >> np.arange(bits, dtype=np.uint32)) & 1  # (rows, cols, bits)
    packed = np.packbits(planes.reshape(c.shape[0], -1).astype(np.uint8), axis=1, bitorder="little")
    return torch.from_numpy(packed)


def unpack_codes(packed: torch.Tensor, bits: int, columns: int) -> torch.Tensor:
    planes = np.unpackbits(
        packed.cpu().numpy(), axis=1, count=columns * bits, bitorder="little"
    ).reshape(packed.shape[0], columns, bits)
    weights = (1 << np.arange(bits, dtype=np.int64))[None, None, :]
    return torch.from_numpy((planes.astype(np.int64) * weights).sum(2).astype(np.int32))


def save_quantized(model: nn.Module, report: PostTrainingReport, path: str | Path) -> int:
    """Write the model with its quantized layers packed; return the file's size in bytes."""
    if not report.quant:
        raise ConfigError(f"{report.compressor} did not quantize any layer; nothing to pack.")
    tensors: dict[str, torch.Tensor] = {}
    layers: dict[str, dict[str, int]] = {}
    for name, state in report.quant.items():
        tensors[f"{name}.qweight"] = pack_codes(state.codes, state.bits)
        tensors[f"{name}.scales"] = state.scales.float().contiguous().cpu()
        zeros = state.zeros.float().contiguous().cpu()
        integral = bool(torch.equal(zeros, zeros.round())) and float(zeros.min()) >= 0
        if integral and float(zeros.max()) < 256:  # integer zero points: one byte each
            zeros = zeros.to(torch.uint8)
        tensors[f"{name}.zeros"] = zeros
        tensors[f"{name}.g_idx"] = state.group_index.to(torch.int32).cpu()
        layers[name] = {"bits": state.bits, "columns": int(state.codes.shape[1])}
    seen: set[int] = set()
    quantized = {f"{name}.weight" for name in report.quant}
    for key, value in model.state_dict().items():
        if key in quantized or value.data_ptr() in seen:
            continue
        seen.add(value.data_ptr())
        tensors[key] = value.detach().contiguous().cpu()
    meta = {"format": FORMAT, "compressor": report.compressor, "layers": json.dumps(layers)}
    data = save(tensors, metadata=meta)
    atomic_write_bytes(Path(path), data)
    return len(data)


@torch.no_grad()
def load_quantized(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a ``save_quantized`` file into ``model`` (same architecture), in place."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata() or {}
    if meta.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a tomoprune quantized export ({FORMAT}).")
    tensors = load_file(str(path))
    layers = json.loads(meta["layers"])
    plain = {k: v for k, v in tensors.items() if not k.startswith(tuple(f"{n}." for n in layers))}
    model.load_state_dict(plain, strict=False)
    modules = dict(model.named_modules())
    for name, info in layers.items():
        state = QuantState(
            bits=info["bits"],
            codes=unpack_codes(tensors[f"{name}.qweight"], info["bits"], info["columns"]),
            scales=tensors[f"{name}.scales"],
            zeros=tensors[f"{name}.zeros"].float(),
            group_index=tensors[f"{name}.g_idx"].long(),
        )
        module = modules[name]
        set_weight_matrix(module, state.dequantize().to(module.weight.device))
    return model


def semi_structured_24(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, metadata) of a 2:4 sparse (rows, columns) float16/bfloat16 matrix.

    ``values`` is (rows, columns / 2); ``metadata`` is int16 in the CUTLASS order that
    ``torch.sparse.SparseSemiStructuredTensor`` uses. The matrix must have at most 2 non-zeros
    in every 4 consecutive entries of a row; rows a multiple of 32 and columns of 64 for the
    CUTLASS tile (as the sparse tensor cores require).
    """
    from torch.sparse._semi_structured_conversions import sparse_semi_structured_from_dense_cutlass

    if weight.dtype not in (torch.float16, torch.bfloat16):
        raise ConfigError(
            f"2:4 semi-structured storage needs float16 or bfloat16 weights; got {weight.dtype}."
        )
    rows, columns = weight.shape
    if rows % 32 or columns % 64:
        raise ConfigError(
            f"2:4 semi-structured storage needs rows % 32 == 0 and columns % 64 == 0; the "
            f"weight is {rows}x{columns}."
        )
    nonzero = (weight != 0).reshape(rows, columns // 4, 4).sum(2)
    if bool((nonzero > 2).any()):
        raise ConfigError("the weight is not 2:4 sparse (a group of 4 has more than 2 non-zeros).")
    return sparse_semi_structured_from_dense_cutlass(weight)


def dense_from_24(values: torch.Tensor, metadata: torch.Tensor) -> torch.Tensor:
    from torch.sparse._semi_structured_conversions import sparse_semi_structured_to_dense_cutlass

    return sparse_semi_structured_to_dense_cutlass(values, metadata)
