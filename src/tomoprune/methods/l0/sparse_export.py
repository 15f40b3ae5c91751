"""Honest storage numbers for a sparse model, and a sparse export file.

Counting non-zeros flatters a sparse model: somebody has to store where they are. For every
parameter tensor (viewed as a matrix ``shape[0] x prod(shape[1:])``; vectors as one row) this
module reports the bytes of three formats:

- dense float32: ``4 * numel``;
- CSR with float32 values and int32 indices: ``4 * nnz`` values + ``4 * nnz`` column indices
  + ``4 * (rows + 1)`` row pointers;
- bitmask + values: ``ceil(numel / 8)`` bytes of presence bits + ``4 * nnz`` values.

``write_sparse_export`` writes exactly the CSR arrays counted above (plus each tensor's shape)
as one safetensors file, and ``read_sparse_export`` restores the dense tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
import torch
from safetensors.numpy import load_file, save
from torch import nn

from tomoprune.fileio import atomic_write_bytes

FLOAT_BYTES = 4
INDEX_BYTES = 4
# the export's file name in a run directory, beside model.safetensors
SPARSE_EXPORT_FILE = "model.sparse.safetensors"


@dataclass(frozen=True)
class TensorStorage:
    name: str
    shape: tuple[int, ...]
    numel: int
    nnz: int
    dense_bytes: int
    csr_bytes: int
    bitmask_bytes: int


@dataclass(frozen=True)
class StorageReport:
    """Totals over all tensors, plus the per-tensor rows."""

    parameters: int
    nonzero: int
    dense_bytes: int
    csr_bytes: int
    bitmask_bytes: int
    tensors: tuple[TensorStorage, ...]

    @property
    def compression_ratio(self) -> float:
        """``parameters / nonzero`` (inf when every parameter is zero)."""
        return self.parameters / self.nonzero if self.nonzero else math.inf

    @property
    def pruned_fraction(self) -> float:
        """``1 - nonzero / parameters``."""
        return 1.0 - self.nonzero / self.parameters if self.parameters else 0.0

    def as_row(self, prefix: str = "") -> dict[str, float | int]:
        return {
            f"{prefix}parameters": self.parameters,
            f"{prefix}nonzero": self.nonzero,
            f"{prefix}compression_ratio": self.compression_ratio,
            f"{prefix}pruned_fraction": self.pruned_fraction,
            f"{prefix}dense_float32_bytes": self.dense_bytes,
            f"{prefix}csr_bytes": self.csr_bytes,
            f"{prefix}bitmask_bytes": self.bitmask_bytes,
        }


def _as_matrix(array: np.ndarray) -> np.ndarray:
    return array.reshape(1, -1) if array.ndim <= 1 else array.reshape(array.shape[0], -1)


def tensor_storage(name: str, tensor: torch.Tensor) -> TensorStorage:
    """Sizes of one tensor in the three formats."""
    matrix = _as_matrix(tensor.detach().cpu().numpy())
    numel = int(matrix.size)
    nnz = int(np.count_nonzero(matrix))
    rows = matrix.shape[0]
    return TensorStorage(
        name=name,
        shape=tuple(tensor.shape),
        numel=numel,
        nnz=nnz,
        dense_bytes=FLOAT_BYTES * numel,
        csr_bytes=(FLOAT_BYTES + INDEX_BYTES) * nnz + INDEX_BYTES * (rows + 1),
        bitmask_bytes=math.ceil(numel / 8) + FLOAT_BYTES * nnz,
    )


def storage_report(model: nn.Module) -> StorageReport:
    """Storage of every parameter of ``model`` (buffers such as BatchNorm statistics excluded)."""
    tensors = tuple(tensor_storage(n, p) for n, p in model.named_parameters())
    return StorageReport(
        parameters=sum(t.numel for t in tensors),
        nonzero=sum(t.nnz for t in tensors),
        dense_bytes=sum(t.dense_bytes for t in tensors),
        csr_bytes=sum(t.csr_bytes for t in tensors),
        bitmask_bytes=sum(t.bitmask_bytes for t in tensors),
        tensors=tensors,
    )


def sparse_export_bytes(model: nn.Module) -> bytes:
    """The model's parameters as CSR arrays (float32 data, int32 indices) in safetensors form.

    Keys per parameter ``NAME``: ``NAME.data``, ``NAME.indices``, ``NAME.indptr``, ``NAME.shape``.
    """
    arrays: dict[str, np.ndarray] = {}
    for name, p in model.named_parameters():
        dense = p.detach().cpu().numpy().astype(np.float32)
        csr = scipy.sparse.csr_matrix(_as_matrix(dense))
        csr.eliminate_zeros()
        arrays[f"{name}.data"] = csr.data.astype(np.float32)
        arrays[f"{name}.indices"] = csr.indices.astype(np.int32)
        arrays[f"{name}.indptr"] = csr.indptr.astype(np.int32)
        arrays[f"{name}.shape"] = np.asarray(dense.shape, dtype=np.int64)
    return save(arrays, metadata={"format": "tomoprune.csr/1"})


def write_sparse_export(model: nn.Module, path: str | Path) -> int:
    """Write ``sparse_export_bytes(model)`` to ``path`` atomically; returns the file size."""
    data = sparse_export_bytes(model)
    atomic_write_bytes(path, data)
    return len(data)


def read_sparse_export(path: str | Path) -> dict[str, np.ndarray]:
    """The dense parameter arrays stored by ``write_sparse_export``, by parameter name."""
    arrays = load_file(str(path))
    names = sorted({key.rsplit(".", 1)[0] for key in arrays})
    out: dict[str, np.ndarray] = {}
    for name in names:
        shape = tuple(int(s) for s in arrays[f"{name}.shape"])
        rows = 1 if len(shape) <= 1 else shape[0]
        cols = math.prod(shape) // rows if rows else 0
        csr = scipy.sparse.csr_matrix(
            (arrays[f"{name}.data"], arrays[f"{name}.indices"], arrays[f"{name}.indptr"]),
            shape=(rows, cols),
        )
        out[name] = csr.toarray().reshape(shape)
    return out


# -- the packed export: presence bits + float16 values (what a compressed file stores) --------
PACKED_FORMAT = "tomoprune.packed-f16/1"


def packed_export_bytes(model: nn.Module, metadata: dict[str, str] | None = None) -> bytes:
    """The model's parameters as presence bits and float16 values, in safetensors form.

    Per parameter ``NAME``: ``NAME.values`` (the non-zero entries in row-major order, float16)
    and, when some entry is zero, ``NAME.mask`` (``np.packbits`` of the presence bits, which is
    the bitmask format of ``storage_report`` with half-width values). ``metadata`` (e.g. the
    architecture) travels in the safetensors header. The size of these bytes is the model's
    share of a description length; decode with :func:`read_packed_export`.
    """
    arrays: dict[str, np.ndarray] = {}
    for name, p in model.named_parameters():
        flat = p.detach().cpu().to(torch.float16).numpy().reshape(-1)
        present = flat != 0
        arrays[f"{name}.values"] = flat[present]
        if not present.all():
            arrays[f"{name}.mask"] = np.packbits(present)
    data = save(arrays, metadata={"format": PACKED_FORMAT, **(metadata or {})})
    return _sorted_metadata(data)


def _sorted_metadata(data: bytes) -> bytes:
    """The same safetensors bytes with the header's metadata keys in sorted order.

    safetensors writes metadata from a hash map, so its key order (and with it the bytes) can
    differ between two calls on the same model; sorting makes the export byte-reproducible.
    The header keeps its length, so the tensor offsets stay valid.
    """
    import json

    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        return data
    ordered = {"__metadata__": dict(sorted(metadata.items())), **header}
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()
    if len(text) > size:  # a different escaping: keep what safetensors wrote
        return data
    return data[:8] + text.ljust(size, b" ") + data[8 + size :]


def read_packed_export(
    data: bytes, shapes: dict[str, tuple[int, ...]]
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Dense float32 parameters (by name, shaped as ``shapes``) and the header metadata.

    Raises ``ValueError`` when the bytes do not hold exactly these parameters.
    """
    from safetensors.numpy import load

    arrays = load(data)
    tensors: dict[str, torch.Tensor] = {}
    for name, shape in shapes.items():
        numel = math.prod(shape)
        values = arrays.get(f"{name}.values")
        if values is None or values.dtype != np.float16:
            raise ValueError(f"no float16 values for {name!r}")
        mask = arrays.get(f"{name}.mask")
        if mask is None:
            present = np.ones(numel, dtype=bool)
        else:
            present = np.unpackbits(mask, count=numel).astype(bool)
        if mask is not None and mask.size != math.ceil(numel / 8):
            raise ValueError(f"mask of {name!r} has {mask.size} bytes for {numel} entries")
        if int(present.sum()) != values.size:
            raise ValueError(f"{name!r}: {values.size} values for {int(present.sum())} places")
        dense = np.zeros(numel, dtype=np.float32)
        dense[present] = values.astype(np.float32)
        tensors[name] = torch.from_numpy(dense.reshape(shape))
    expected = {f"{n}.values" for n in shapes} | {f"{n}.mask" for n in shapes}
    unknown = set(arrays) - expected
    if unknown:
        raise ValueError(f"unexpected tensors {sorted(unknown)[:3]}")
    return tensors, packed_metadata(data)


def packed_metadata(data: bytes) -> dict[str, str]:
    """The header metadata of a packed export (``ValueError`` if it is not one)."""
    import json
    import struct

    if len(data) < 8:
        raise ValueError("too short for a safetensors header")
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8:
        raise ValueError("header longer than the data")
    header = json.loads(data[8 : 8 + length])
    metadata = header.get("__metadata__", {})
    if metadata.get("format") != PACKED_FORMAT:
        raise ValueError(f"format {metadata.get('format')!r}, expected {PACKED_FORMAT!r}")
    return metadata


def export_columns(model: nn.Module, path: Path, size: int) -> dict[str, Any]:
    """The record columns of an honest export: its file, its bytes against dense float32, and
    the model's non-zero and total parameters."""
    dense_bytes = 4 * sum(p.numel() for p in model.parameters())
    report = storage_report(model)
    return {
        "export_file": path.name,
        "export_bytes": size,
        "dense_float32_bytes": dense_bytes,
        "size_ratio_vs_dense": size / dense_bytes,
        "nonzero_parameters": report.nonzero,
        "parameters": report.parameters,
    }
