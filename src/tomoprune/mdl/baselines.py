"""The classical compressors beside the models: gzip, bzip2, xz and zstd, in-process.

Each is run two ways: on the whole file (what a user gets) and on every 512-byte chunk
separately, the sizes summed (how the l0-compression paper, arXiv:2505.17469, sized its LZMA2
and Zstandard baselines; the per-chunk container and header overhead handicaps them).

Settings: ``gzip -9`` is Python's zlib at level 9 in a gzip container without file name or
time stamp (GNU gzip's own deflate differs slightly: 721,413 bytes on world192.txt against
721,957 here); ``bzip2 -9`` is libbz2 at block size 9; ``xz -9e`` is liblzma's LZMA2 preset
``9 | PRESET_EXTREME`` in the xz container (CRC-64); ``zstd -19`` is libzstd level 19 through
the ``zstandard`` package, one frame with the content size.

For chunks, xz gets a 4 KiB dictionary instead of the preset's 64 MiB: a chunk is shorter than
either, so the coded data are the same length (only the dictionary-size byte of the header
differs) and the run takes a second instead of ten minutes of allocating 64 MiB per chunk.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Callable
from dataclasses import dataclass

from tomoprune.extras import require

CHUNK_BYTES = 512
XZ_PRESET = 9 | lzma.PRESET_EXTREME


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def _bzip2(data: bytes) -> bytes:
    return bz2.compress(data, compresslevel=9)


def _xz(data: bytes) -> bytes:
    if len(data) < 4096:
        filters = [{"id": lzma.FILTER_LZMA2, "preset": XZ_PRESET, "dict_size": 4096}]
        return lzma.compress(data, format=lzma.FORMAT_XZ, filters=filters)
    return lzma.compress(data, format=lzma.FORMAT_XZ, preset=XZ_PRESET)


def _zstd(data: bytes) -> bytes:
    return require("zstandard", "mdl", "zstd -19").ZstdCompressor(level=19).compress(data)


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip -9": _gzip,
    "bzip2 -9": _bzip2,
    "xz -9e": _xz,
    "zstd -19": _zstd,
}
DECOMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip -9": gzip.decompress,
    "bzip2 -9": bz2.decompress,
    "xz -9e": lzma.decompress,
    "zstd -19": lambda blob: (
        require("zstandard", "mdl", "zstd -19").ZstdDecompressor().decompress(blob)
    ),
}


@dataclass(frozen=True)
class BaselineSize:
    compressor: str
    protocol: str  # "whole file" or "512-byte chunks"
    bytes: int
    original_bytes: int

    @property
    def bits_per_byte(self) -> float:
        return 8.0 * self.bytes / self.original_bytes


def chunked_size(compress: Callable[[bytes], bytes], data: bytes, chunk: int = CHUNK_BYTES) -> int:
    """Summed size of every ``chunk``-byte piece compressed on its own."""
    return sum(len(compress(data[i : i + chunk])) for i in range(0, len(data), chunk))


def baseline_sizes(data: bytes, chunk: int = CHUNK_BYTES) -> list[BaselineSize]:
    """Every compressor on the whole file and on ``chunk``-byte chunks."""
    rows = []
    for name, compress in COMPRESSORS.items():
        rows.append(BaselineSize(name, "whole file", len(compress(data)), len(data)))
        rows.append(
            BaselineSize(
                name, f"{chunk}-byte chunks", chunked_size(compress, data, chunk), len(data)
            )
        )
    return rows
