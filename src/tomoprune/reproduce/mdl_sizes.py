"""Compressed size and speed against file size: the online codec, the classical compressors
and (optionally) the two-part codec on prefixes of a text.

For each prefix (default: 128 KiB, 512 KiB and the whole file) every coder compresses the
prefix, decompresses its output, and the round trip is checked byte for byte. Rows give the
compressed bytes, bits per byte, the size relative to ``xz -9e`` and encode/decode throughput
(wall time, one process; the online codec's JIT compilation is done once before timing).

``run_sizes`` writes ``OUT/sizes_table.csv`` and ``OUT/sizes_table.md``; two-part results are
stored in ``OUT/sizes/<bytes>/two_part.json`` and reused when the prefix and config match
(fitting a transformer is the slow part).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tomoprune.engine.progress import Reporter
from tomoprune.errors import ConfigError
from tomoprune.fileio import atomic_write_csv, atomic_write_json, atomic_write_text, read_json
from tomoprune.mdl import codec, container, online
from tomoprune.mdl.baselines import COMPRESSORS, DECOMPRESSORS
from tomoprune.mdl.fit import MDLConfig, fit_model

SIZES_CSV = "sizes_table.csv"
SIZES_MD = "sizes_table.md"
DEFAULT_SIZES = "131072,524288,all"
SIZE_COLUMNS = (
    "prefix_bytes",
    "coder",
    "mode",
    "compressed_bytes",
    "bits_per_byte",
    "vs_xz_percent",  # 100 x (bytes / xz bytes - 1)
    "encode_kB_per_s",
    "decode_kB_per_s",
    "fit_seconds",  # two-part only: training the model
    "round_trip",
)


def parse_sizes(text: str | None, length: int) -> list[int]:
    """``"131072,524288,all"`` -> prefix lengths (``all`` = the whole file; sizes above the
    file's length are dropped, duplicates removed, in increasing order)."""
    text = text or DEFAULT_SIZES
    sizes: set[int] = set()
    for item in (part.strip() for part in text.split(",")):
        if item == "all":
            sizes.add(length)
            continue
        try:
            value = int(item)
        except ValueError:
            value = 0
        if value < 1:
            raise ConfigError(
                "The '--sizes' option must list positive byte counts or 'all', e.g. "
                f"131072,524288,all. Got {text!r} instead."
            )
        if value <= length:
            sizes.add(value)
    if not sizes:
        raise ConfigError(
            f"The '--sizes' option selects no prefix of this {length:,}-byte file. "
            f"Got {text!r} instead."
        )
    return sorted(sizes)


def _timed(function: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = function()
    return value, time.perf_counter() - started


def _row(
    data: bytes,
    coder: str,
    mode: str,
    blob: bytes,
    encode_s: float,
    decode_s: float,
    restored: bytes,
    fit_s: float | None = None,
) -> dict[str, Any]:
    n = len(data)
    return {
        "prefix_bytes": n,
        "coder": coder,
        "mode": mode,
        "compressed_bytes": len(blob),
        "bits_per_byte": 8 * len(blob) / n,
        "encode_kB_per_s": n / max(encode_s, 1e-9) / 1e3,
        "decode_kB_per_s": n / max(decode_s, 1e-9) / 1e3,
        "fit_seconds": fit_s,
        "round_trip": restored == data,
    }


def online_row(data: bytes, config: online.OnlineConfig) -> dict[str, Any]:
    blob, encode_s = _timed(lambda: online.compress(data, config))
    restored, decode_s = _timed(lambda: online.decompress(blob))
    return _row(data, "tomoprune online", "online", blob, encode_s, decode_s, restored)


def classical_rows(data: bytes) -> list[dict[str, Any]]:
    rows = []
    for name, compress in COMPRESSORS.items():
        blob, encode_s = _timed(lambda compress=compress: compress(data))
        restored, decode_s = _timed(lambda name=name, blob=blob: DECOMPRESSORS[name](blob))
        rows.append(_row(data, name, "whole prefix", blob, encode_s, decode_s, restored))
    return rows


def two_part_row(
    data: bytes, config: MDLConfig, out: Path, *, reporter: Reporter | None = None
) -> dict[str, Any]:
    """Fit a DRR transformer to ``data``, write the two-part file, decode it (reused when the
    prefix and config match)."""
    path = out / "sizes" / str(len(data)) / "two_part.json"
    fingerprint = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "config": dataclasses.asdict(config),
    }
    if path.is_file():
        stored = read_json(path)
        if {k: stored.get(k) for k in fingerprint} == fingerprint:
            return stored["row"]
    fit = fit_model(data, "drr", config, reporter=reporter)
    (blob, _), encode_s = _timed(lambda: codec.compress(fit.model, data))
    restored, decode_s = _timed(lambda: container.decompress(blob))
    row = _row(data, "tomoprune two-part (drr)", "two-part", blob, encode_s, decode_s, restored,
               fit.seconds)  # fmt: skip
    atomic_write_json(path, {**fingerprint, "row": row})
    return row


def warm_up(config: online.OnlineConfig) -> None:
    """Compile (or load the cached) online kernel, so that timings exclude compilation."""
    online.decompress(online.compress(b"warm-up", dataclasses.replace(config, table_bits=16)))


def run_sizes(
    data: bytes,
    out: Path,
    *,
    sizes: Sequence[int],
    online_config: online.OnlineConfig,
    two_part: MDLConfig | None = None,
    reporter_factory: Callable[[], Reporter] = Reporter,
    announce: Callable[[str], None] = lambda message: None,
) -> list[dict[str, Any]]:
    """Every coder on every prefix; writes the sizes table and returns its rows."""
    out.mkdir(parents=True, exist_ok=True)
    warm_up(online_config)
    rows: list[dict[str, Any]] = []
    for size in sizes:
        prefix = data[:size]
        announce(f"{size:,} bytes: online codec and classical compressors")
        block = [online_row(prefix, online_config), *classical_rows(prefix)]
        if two_part is not None:
            announce(f"{size:,} bytes: two-part codec (fitting a transformer)")
            block.insert(1, two_part_row(prefix, two_part, out, reporter=reporter_factory()))
        xz = next(r["compressed_bytes"] for r in block if r["coder"] == "xz -9e")
        for row in block:
            row["vs_xz_percent"] = 100.0 * (row["compressed_bytes"] / xz - 1.0)
        rows += block
    return rows


def write_sizes_table(
    out: Path, rows: Sequence[dict[str, Any]], source: str, config: online.OnlineConfig
) -> None:
    atomic_write_csv(out / SIZES_CSV, SIZE_COLUMNS, rows)
    atomic_write_text(out / SIZES_MD, sizes_markdown(rows, source, config))


def sizes_markdown(rows: Sequence[dict[str, Any]], source: str, config: online.OnlineConfig) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(config).items())
    lines = [
        f"# Compressed size against file size: prefixes of {source}",
        "",
        "| prefix bytes | coder | compressed bytes | bits per byte | vs xz -9e | encode kB/s "
        "| decode kB/s | round trip |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        fit = f" (+{row['fit_seconds']:.0f} s fit)" if row.get("fit_seconds") else ""
        lines.append(
            f"| {row['prefix_bytes']:,} | {row['coder']} | {row['compressed_bytes']:,} "
            f"| {row['bits_per_byte']:.3f} | {row['vs_xz_percent']:+.1f} % "
            f"| {row['encode_kB_per_s']:,.1f}{fit} | {row['decode_kB_per_s']:,.1f} "
            f"| {'exact' if row['round_trip'] else 'FAILED'} |"
        )
    lines += [
        "",
        "Compressed bytes are whole files as written (the online codec's 68-byte header "
        "included; the two-part file holds the exported model too). Throughput is wall time "
        "on the machine in provenance.json, one process, the online kernel compiled before "
        f"timing. Online settings: {settings}.",
        "",
    ]
    return "\n".join(lines)
