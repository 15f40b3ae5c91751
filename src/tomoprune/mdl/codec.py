"""The compressed file: a header, the exported model, and the file's bytes arithmetic-coded.

Layout (little-endian)::

    magic "TPMZ" | format version u16 | reserved u16 | original length u64
    | SHA-256 of the original (32 bytes) | segments per group u32 | model length u64
    | code length in 32-bit words u64 | CRC-32 of everything after the header u32
    | the model (``model_io.pack_model``) | the range coder's words (u32 each)

The data are coded segment by segment (``data.text.segments``: aligned segments of the model's
context, then the tail), each segment from ``BOS`` with the model's next-byte distribution, by
``constriction``'s range coder (``Categorical`` models, 24-bit fixed-point probabilities with a
floor, so every byte stays codable). Segments are independent, so they are coded in groups of
``group_size`` that advance together, one position per model call.

Why the decoder sees the encoder's probabilities bit for bit: both run the same function
(``_group_probabilities``: ``ByteTransformer.step`` with a key/value cache, one position at a
time, the same group shapes in the same order) on one thread, in the same float32 arithmetic,
and turn logits into probabilities the same way (float64 softmax). The encoder never uses the
faster all-positions ``forward``, whose rounding differs. The header's CRC-32 rejects a damaged
file before decoding and the SHA-256 of the output is checked before anything is written, so
a damaged or foreign file gives an error, never wrong bytes.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from tomoprune.data.text import segments
from tomoprune.errors import DataError
from tomoprune.extras import require
from tomoprune.mdl.model_io import pack_model, unpack_model
from tomoprune.models.transformer import BOS, ByteTransformer

constriction = require("constriction", "mdl", "The two-part codec")

MAGIC = b"TPMZ"
FORMAT_VERSION = 1
HEADER = struct.Struct("<4sHHQ32sIQQI")
DEFAULT_GROUP_SIZE = 4096


@dataclass(frozen=True)
class Header:
    original_length: int
    sha256: bytes
    group_size: int
    model_length: int
    code_words: int
    payload_crc32: int

    def pack(self) -> bytes:
        return HEADER.pack(
            MAGIC,
            FORMAT_VERSION,
            0,
            self.original_length,
            self.sha256,
            self.group_size,
            self.model_length,
            self.code_words,
            self.payload_crc32,
        )


@dataclass(frozen=True)
class CompressedSizes:
    header_bytes: int
    model_bytes: int
    code_bytes: int

    @property
    def total(self) -> int:
        return self.header_bytes + self.model_bytes + self.code_bytes


@contextmanager
def single_thread() -> Iterator[None]:
    """One intra-op thread while coding (the same reduction order at both ends)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _groups(data: bytes, context: int, group_size: int) -> list[torch.Tensor]:
    """The segments as coded: groups of up to ``group_size`` aligned segments, then the tail."""
    full, tail = segments(data, context)
    groups = [full[s : s + group_size] for s in range(0, full.shape[0], group_size)]
    if tail.numel():
        groups.append(tail[None])
    return groups


def _group_shapes(length: int, context: int, group_size: int) -> list[tuple[int, int]]:
    full, tail = divmod(length, context)
    shapes = [(min(group_size, full - s), context) for s in range(0, full, group_size)]
    if tail:
        shapes.append((1, tail))
    return shapes


def _probabilities(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits.double(), dim=-1).numpy()


def _categorical():
    return constriction.stream.model.Categorical(perfect=False)


def encode(
    model: ByteTransformer,
    data: bytes,
    *,
    group_size: int = DEFAULT_GROUP_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """The range coder's words (uint32) for ``data`` under ``model``."""
    model.eval()
    encoder = constriction.stream.queue.RangeEncoder()
    family = _categorical()
    done = 0
    with single_thread(), torch.inference_mode():
        for targets in _groups(data, model.config.context, group_size):
            g, length = targets.shape
            cache = model.start(g, length)
            previous = torch.full((g,), BOS, dtype=torch.int64)
            for t in range(length):
                probabilities = _probabilities(model.step(previous, cache))
                symbols = targets[:, t]
                encoder.encode(symbols.numpy().astype(np.int32), family, probabilities)
                previous = symbols
            done += g * length
            if on_progress is not None:
                on_progress(done)
    return encoder.get_compressed()


def decode(
    model: ByteTransformer,
    words: np.ndarray,
    length: int,
    *,
    group_size: int = DEFAULT_GROUP_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> bytes:
    """Invert :func:`encode`: ``length`` bytes from the range coder's ``words``."""
    model.eval()
    decoder = constriction.stream.queue.RangeDecoder(words)
    family = _categorical()
    context = model.config.context
    pieces: list[np.ndarray] = []
    done = 0
    with single_thread(), torch.inference_mode():
        for g, seg_length in _group_shapes(length, context, group_size):
            out = torch.empty((g, seg_length), dtype=torch.int64)
            cache = model.start(g, seg_length)
            previous = torch.full((g,), BOS, dtype=torch.int64)
            for t in range(seg_length):
                probabilities = _probabilities(model.step(previous, cache))
                symbols = decoder.decode(family, probabilities)
                out[:, t] = torch.from_numpy(np.asarray(symbols, dtype=np.int64))
                previous = out[:, t]
            pieces.append(out.numpy().astype(np.uint8).reshape(-1))
            done += g * seg_length
            if on_progress is not None:
                on_progress(done)
    return b"".join(p.tobytes() for p in pieces)


def compress(
    model: ByteTransformer,
    data: bytes,
    *,
    group_size: int = DEFAULT_GROUP_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[bytes, CompressedSizes]:
    """The compressed file's bytes for ``data``, and how they split into header, model, code.

    ``model`` is used as stored (float16 values), so pass a model that went through
    ``model_io.round_trip`` to get the code length that was measured.
    """
    if group_size < 1:
        raise DataError(f"The group size must be at least 1. Got {group_size} instead.")
    model_bytes = pack_model(model)
    stored = unpack_model(model_bytes)
    words = encode(stored, data, group_size=group_size, on_progress=on_progress)
    code = words.astype("<u4").tobytes()
    payload = model_bytes + code
    header = Header(
        original_length=len(data),
        sha256=hashlib.sha256(data).digest(),
        group_size=group_size,
        model_length=len(model_bytes),
        code_words=len(words),
        payload_crc32=zlib.crc32(payload),
    )
    blob = header.pack() + payload
    return blob, CompressedSizes(HEADER.size, len(model_bytes), len(code))


def read_header(blob: bytes, name: str = "input") -> Header:
    """The header of a compressed file, checked against the file's length and CRC-32."""
    if len(blob) < HEADER.size:
        raise DataError(
            f"{name}: {len(blob)} bytes, too short for a tomoprune compressed file "
            "(truncated?); pass a file written by 'tomoprune data compress'."
        )
    magic, version, _, length, digest, group, model_length, words, crc = HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise DataError(
            f"{name}: not a tomoprune compressed file (no {MAGIC.decode()} magic); pass a file "
            "written by 'tomoprune data compress'."
        )
    if version != FORMAT_VERSION:
        raise DataError(
            f"{name}: format version {version}, this tomoprune reads version {FORMAT_VERSION}; "
            "decompress it with the tomoprune that wrote it."
        )
    expected = HEADER.size + model_length + 4 * words
    if len(blob) != expected:
        state = "truncated" if len(blob) < expected else "has trailing bytes"
        raise DataError(
            f"{name}: {len(blob)} bytes but the header announces {expected}: the file is "
            f"{state}; compress the original again."
        )
    if zlib.crc32(blob[HEADER.size :]) != crc or group < 1:
        raise DataError(f"{name}: checksum mismatch, the file is corrupt; compress it again.")
    return Header(length, digest, group, model_length, words, crc)


def decompress(
    blob: bytes, *, name: str = "input", on_progress: Callable[[int], None] | None = None
) -> bytes:
    """The original bytes of a compressed file; ``DataError`` for anything damaged or foreign."""
    header = read_header(blob, name)
    start = HEADER.size
    model_bytes = blob[start : start + header.model_length]
    code = blob[start + header.model_length :]
    try:
        model = unpack_model(model_bytes)
    except Exception as exc:  # safetensors, json and shape errors all mean a damaged model
        raise DataError(f"{name}: the stored model is damaged ({exc}); compress again.") from None
    words = np.frombuffer(code, dtype="<u4").astype(np.uint32)
    try:
        data = decode(
            model,
            words,
            header.original_length,
            group_size=header.group_size,
            on_progress=on_progress,
        )
    except Exception as exc:  # the coder rejects some damaged streams outright
        raise DataError(f"{name}: the coded data are damaged ({exc}); compress again.") from None
    if hashlib.sha256(data).digest() != header.sha256:
        raise DataError(
            f"{name}: the decoded bytes do not match the stored SHA-256 (a damaged file, or a "
            "machine that computes the model differently); compress again on this machine."
        )
    return data
