"""Which format a ``.tpz`` file is in, and decompressing either.

Both formats start with the magic ``TPMZ`` and a format version (u16): version 1 is the
two-part file (``codec``: an exported byte transformer and its range code), version 2 the
online context-mixing file (``online``; its next u16 is the mode).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from tomoprune.errors import DataError
from tomoprune.mdl import codec, online

PREFIX = struct.Struct("<4sH")
MODES = {codec.FORMAT_VERSION: "two-part", online.FORMAT_VERSION: "online"}


def mode_of(blob: bytes, name: str = "input") -> str:
    """``"two-part"`` or ``"online"``; ``DataError`` for a file that is neither."""
    if len(blob) < PREFIX.size:
        raise DataError(
            f"{name}: {len(blob)} bytes, too short for a tomoprune compressed file "
            "(truncated?); pass a file written by 'tomoprune data compress'."
        )
    magic, version = PREFIX.unpack_from(blob)
    if magic != codec.MAGIC:
        raise DataError(
            f"{name}: not a tomoprune compressed file (no {codec.MAGIC.decode()} magic); pass a "
            "file written by 'tomoprune data compress'."
        )
    if version not in MODES:
        raise DataError(
            f"{name}: format version {version}, this tomoprune reads versions "
            f"{', '.join(str(v) for v in MODES)}; decompress it with the tomoprune that wrote it."
        )
    return MODES[version]


def original_length(blob: bytes, name: str = "input") -> int:
    """The original length from a checked header (either format)."""
    if mode_of(blob, name) == "online":
        return online.read_header(blob, name).original_length
    return codec.read_header(blob, name).original_length


def decompress(
    blob: bytes, *, name: str = "input", on_progress: Callable[[int], None] | None = None
) -> bytes:
    """The original bytes of a file in either format; ``DataError`` when damaged or foreign.
    (``on_progress`` is called by the two-part decoder only; the online coder runs in one
    compiled call.)"""
    if mode_of(blob, name) == "online":
        return online.decompress(blob, name=name)
    return codec.decompress(blob, name=name, on_progress=on_progress)
