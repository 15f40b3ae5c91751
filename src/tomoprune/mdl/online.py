"""The online (prequential) compressed file: a header and the context-mixing coder's bytes.

No model is stored: the coder starts from a fixed initial state and learns while it codes
(``cm_kernel``), and the decoder takes exactly the same update steps on the bytes it has
decoded. The header records the model's settings, so a file decodes with the settings that
wrote it.

Layout (little-endian)::

    magic "TPMZ" | format version u16 (2) | mode u16 (1 = online context mixing)
    | original length u64 | SHA-256 of the original (32 bytes)
    | table bits u8 | match-table bits u8 | minimum match u8 | reserved u8
    | counter limit u16 | mixer learning rate u16 | code length in bytes u64
    | CRC-32 of the header's other fields and the code u32 | the code

The CRC-32 rejects a damaged file before decoding and the SHA-256 of the output is checked
before anything is returned, so a damaged or foreign file gives a ``DataError``, never wrong
bytes. The two-part format (``codec``, version 1) is unchanged; ``container`` reads both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import zlib

import numpy as np

from tomoprune.errors import ConfigError, DataError

MAGIC = b"TPMZ"
FORMAT_VERSION = 2
MODE_ONLINE = 1
HEADER = struct.Struct("<4sHHQ32sBBBBHHQI")
# a bit costs at least -log2(4095/4096) bits (probabilities are capped at 4095/4096), so a
# byte at least 0.0028 bits: one code byte cannot stand for more than about 2,840 bytes
MAX_BYTES_PER_CODE_BYTE = 4096


@dataclasses.dataclass(frozen=True, kw_only=True)
class OnlineConfig:
    """Settings of the online context-mixing coder (recorded in each file's header).

    ``table_bits``: log2 of the counters in the shared context hash table (4 bytes each; the
    default 2**24 is 64 MiB, enough for a few MB of text; fewer bits evict more contexts).
    ``match_bits``: log2 of the match model's position table (8 bytes each).
    ``min_match``: bytes of context the match model hashes to find an earlier occurrence.
    ``counter_limit``: the count after which a counter adapts at a fixed rate
    ``1 / (limit + 1.5)`` (higher: more stationary statistics).
    ``mixer_lr``: the mixers' learning rate (integer; the weight step is
    ``lr * err * input / 2**30`` in the mixers' fixed point).
    """

    table_bits: int = 24
    match_bits: int = 22
    min_match: int = 6
    counter_limit: int = 255
    mixer_lr: int = 12


LIMITS = {
    "table_bits": (16, 30),
    "match_bits": (12, 28),
    "min_match": (2, 32),
    "counter_limit": (1, 1023),
    "mixer_lr": (1, 255),
}


def validate(config: OnlineConfig) -> None:
    for name, (low, high) in LIMITS.items():
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(
                f"The 'online.{name}' setting must be an integer from {low} to {high}. "
                f"Got {value!r} instead."
            )


@dataclasses.dataclass(frozen=True)
class Header:
    original_length: int
    sha256: bytes
    config: OnlineConfig
    code_bytes: int
    code_crc32: int

    def pack(self) -> bytes:
        c = self.config
        return HEADER.pack(
            MAGIC,
            FORMAT_VERSION,
            MODE_ONLINE,
            self.original_length,
            self.sha256,
            c.table_bits,
            c.match_bits,
            c.min_match,
            0,
            c.counter_limit,
            c.mixer_lr,
            self.code_bytes,
            self.code_crc32,
        )


def _kernel():
    """The compiled kernel (numba is an optional dependency: the ``mdl`` extra)."""
    try:
        from tomoprune.mdl import cm_kernel  # optional extra: numba
    except ImportError as exc:
        raise ConfigError(
            f"The online codec needs numba ({exc}); install it with "
            "pip install 'tomoprune[mdl]', or pass --mode two-part."
        ) from None
    return cm_kernel


def _params(config: OnlineConfig, length: int) -> np.ndarray:
    return np.array(
        [
            config.table_bits,
            config.match_bits,
            config.min_match,
            config.counter_limit,
            config.mixer_lr,
            length,
        ],
        dtype=np.int64,
    )


def encode(
    data: bytes, config: OnlineConfig = OnlineConfig(), *, trace: bool = False
) -> tuple[bytes, np.ndarray | None]:
    """The coder's bytes for ``data``, and (``trace``) every bit's 12-bit probability of a 1."""
    validate(config)
    kernel = _kernel()
    symbols = np.frombuffer(data, dtype=np.uint8).copy()
    out = np.zeros(2 * len(data) + 64, dtype=np.uint8)
    probabilities = np.zeros(8 * len(data) if trace else 0, dtype=np.int64)
    written = kernel.run(symbols, out, _params(config, len(data)), True, probabilities)
    if written < 0:
        raise RuntimeError("the online coder's output buffer overflowed")
    return out[:written].tobytes(), (probabilities if trace else None)


def decode(
    code: bytes, length: int, config: OnlineConfig = OnlineConfig(), *, trace: bool = False
) -> tuple[bytes, np.ndarray | None]:
    """Invert :func:`encode`: ``length`` bytes from the coder's bytes (and the probabilities)."""
    validate(config)
    kernel = _kernel()
    out = np.zeros(length, dtype=np.uint8)
    stream = np.frombuffer(code, dtype=np.uint8).copy()
    probabilities = np.zeros(8 * length if trace else 0, dtype=np.int64)
    kernel.run(out, stream, _params(config, length), False, probabilities)
    return out.tobytes(), (probabilities if trace else None)


def ideal_bits(data: bytes, probabilities: np.ndarray) -> float:
    """``sum -log2 p(bit)`` of the traced probabilities: the code length before the coder's
    few bytes of overhead."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8)).astype(np.int64)
    p_one = probabilities / 4096.0
    return float(-np.log2(np.where(bits == 1, p_one, 1.0 - p_one)).sum())


def _crc(header: bytes, code: bytes) -> int:
    return zlib.crc32(code, zlib.crc32(header[: HEADER.size - 4]))


def compress(data: bytes, config: OnlineConfig = OnlineConfig()) -> bytes:
    """The compressed file (header + code) for ``data``."""
    code, _ = encode(data, config)
    header = Header(
        original_length=len(data),
        sha256=hashlib.sha256(data).digest(),
        config=config,
        code_bytes=len(code),
        code_crc32=0,
    )
    unsigned = header.pack()
    header = dataclasses.replace(header, code_crc32=_crc(unsigned, code))
    return header.pack() + code


def read_header(blob: bytes, name: str = "input") -> Header:
    """The header of an online-mode file, checked against the file's length and CRC-32."""
    if len(blob) < HEADER.size:
        raise DataError(
            f"{name}: {len(blob)} bytes, too short for a tomoprune compressed file "
            "(truncated?); pass a file written by 'tomoprune data compress'."
        )
    fields = HEADER.unpack_from(blob)
    magic, version, mode, length, digest = fields[:5]
    table_bits, match_bits, min_match, _, limit, lr, code_bytes, crc = fields[5:]
    if magic != MAGIC or version != FORMAT_VERSION or mode != MODE_ONLINE:
        raise DataError(f"{name}: not an online-mode tomoprune file; compress it again.")
    expected = HEADER.size + code_bytes
    if len(blob) != expected:
        state = "truncated" if len(blob) < expected else "has trailing bytes"
        raise DataError(
            f"{name}: {len(blob)} bytes but the header announces {expected}: the file is "
            f"{state}; compress the original again."
        )
    if _crc(blob, blob[HEADER.size :]) != crc:
        raise DataError(f"{name}: checksum mismatch, the file is corrupt; compress it again.")
    if length > MAX_BYTES_PER_CODE_BYTE * (code_bytes + 8):
        raise DataError(
            f"{name}: the header announces {length:,} bytes from {code_bytes:,} bytes of code, "
            "more than the coder can express; the file is corrupt or forged."
        )
    config = OnlineConfig(
        table_bits=table_bits,
        match_bits=match_bits,
        min_match=min_match,
        counter_limit=limit,
        mixer_lr=lr,
    )
    try:
        validate(config)
    except ConfigError:
        raise DataError(
            f"{name}: the header's coder settings are out of range, the file is corrupt; "
            "compress it again."
        ) from None
    return Header(length, digest, config, code_bytes, crc)


def decompress(blob: bytes, *, name: str = "input") -> bytes:
    """The original bytes of an online-mode file; ``DataError`` for anything damaged."""
    header = read_header(blob, name)
    data, _ = decode(blob[HEADER.size :], header.original_length, header.config)
    if hashlib.sha256(data).digest() != header.sha256:
        raise DataError(
            f"{name}: the decoded bytes do not match the stored SHA-256 (a damaged file); "
            "compress the original again."
        )
    return data
