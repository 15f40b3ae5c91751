"""Honest storage: quantized layers as bit-packed integer codes plus per-layer offset and scale,
pruned models as CSR (``tomoprune.methods.l0.sparse_export``), both reloadable exactly.

Quantized export, one safetensors file, per parameter ``NAME``:

- quantized tensors: ``NAME.codes`` (uint8, the codes' low ``bits`` bits packed big-endian
  bit order, ``numel * bits`` bits), ``NAME.grid`` (float64 [offset, scale, bits]),
  ``NAME.shape``; entries that are not on the grid (the greedy quantizer leaves 1 - alpha of
  them at full precision) as ``NAME.exception_value`` (float32, in flat order) with their
  positions as ``NAME.exception_index`` (int32 flat indices) or ``NAME.exception_mask``
  (one packed bit per entry), whichever is smaller; their codes are 0.
- other tensors: ``NAME.dense`` (float32) and ``NAME.shape``.

A grid value is decoded as ``float32(offset + scale * code)`` in float64, the same arithmetic
``UniformGrid.values`` uses, so the reloaded weights equal the compressed ones bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save
from torch import nn

from tomoprune.fileio import atomic_write_bytes
from tomoprune.posttraining.replacement import UniformGrid

QUANTIZED_EXPORT_FILE = "model.quantized.safetensors"


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack non-negative integer codes < 2**bits into ``ceil(n * bits / 8)`` bytes."""
    codes = codes.astype(np.int64).reshape(-1)
    shifts = np.arange(bits - 1, -1, -1, dtype=np.int64)
    bitplanes = ((codes[:, None] >> shifts[None, :]) & 1).astype(np.uint8)
    return np.packbits(bitplanes.reshape(-1))


def unpack_codes(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    bitplanes = np.unpackbits(packed)[: count * bits].reshape(count, bits).astype(np.int64)
    shifts = np.arange(bits - 1, -1, -1, dtype=np.int64)
    return (bitplanes << shifts[None, :]).sum(1)


def decode(grid: UniformGrid, codes: np.ndarray) -> np.ndarray:
    return (grid.offset + grid.scale * codes.astype(np.float64)).astype(np.float32)


def quantized_export_bytes(model: nn.Module, grids: dict[str, UniformGrid]) -> bytes:
    """``grids`` maps parameter names (e.g. "2.weight") to the grid their values lie on."""
    arrays: dict[str, np.ndarray] = {}
    for name, param in model.named_parameters():
        values = param.detach().cpu().to(torch.float32).numpy()
        arrays[f"{name}.shape"] = np.asarray(values.shape, dtype=np.int64)
        grid = grids.get(name)
        if grid is None:
            arrays[f"{name}.dense"] = values.reshape(-1)
            continue
        flat = values.reshape(-1)
        codes = np.clip(
            np.round((flat.astype(np.float64) - grid.offset) / grid.scale), 0, grid.levels - 1
        )
        codes = codes.astype(np.int64)
        off_grid = np.flatnonzero(decode(grid, codes) != flat)
        codes[off_grid] = 0
        bits = int(np.log2(grid.levels))
        arrays[f"{name}.codes"] = pack_codes(codes, bits)
        arrays[f"{name}.grid"] = np.asarray([grid.offset, grid.scale, bits], dtype=np.float64)
        if off_grid.size:
            if 4 * off_grid.size <= -(-flat.size // 8):
                arrays[f"{name}.exception_index"] = off_grid.astype(np.int32)
            else:
                mask = np.zeros(flat.size, dtype=np.uint8)
                mask[off_grid] = 1
                arrays[f"{name}.exception_mask"] = np.packbits(mask)
            arrays[f"{name}.exception_value"] = flat[off_grid]
    return save(arrays, metadata={"format": "tomoprune.quantized/1"})


def write_quantized_export(
    model: nn.Module, grids: dict[str, UniformGrid], path: str | Path
) -> int:
    data = quantized_export_bytes(model, grids)
    atomic_write_bytes(path, data)
    return len(data)


def read_quantized_export(path: str | Path) -> dict[str, torch.Tensor]:
    """The parameters stored by ``write_quantized_export``, as float32 tensors by name."""
    arrays = load_file(str(path))
    names = sorted({key.rsplit(".", 1)[0] for key in arrays})
    out: dict[str, torch.Tensor] = {}
    for name in names:
        shape = tuple(int(s) for s in arrays[f"{name}.shape"])
        if f"{name}.dense" in arrays:
            flat = arrays[f"{name}.dense"]
        else:
            offset, scale, bits = arrays[f"{name}.grid"]
            count = int(np.prod(shape))
            codes = unpack_codes(arrays[f"{name}.codes"], int(bits), count)
            grid = UniformGrid(offset=float(offset), scale=float(scale), levels=2 ** int(bits))
            flat = decode(grid, codes)
            if f"{name}.exception_index" in arrays:
                flat[arrays[f"{name}.exception_index"]] = arrays[f"{name}.exception_value"]
            elif f"{name}.exception_mask" in arrays:
                mask = np.unpackbits(arrays[f"{name}.exception_mask"])[:count].astype(bool)
                flat[mask] = arrays[f"{name}.exception_value"]
        out[name] = torch.from_numpy(np.array(flat, dtype=np.float32).reshape(shape))
    return out


def load_exported(model: nn.Module, parameters: dict[str, torch.Tensor]) -> nn.Module:
    """Copy exported parameters (quantized or sparse export) into ``model`` in place."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(torch.as_tensor(parameters[name], dtype=param.dtype))
    return model
