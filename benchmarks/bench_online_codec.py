"""Benchmark ``online_codec``: the online context-mixing compressor against its arithmetic floor
and the classical compressors.

On a 256 KiB slice of world192.txt (a synthetic text when ``../shared`` is absent), one
process, the kernel compiled before timing:

- ``online encode`` / ``online decode``: ``tomoprune.mdl.online`` with its default settings;
- ``arithmetic floor``: a compiled loop doing only the model's unavoidable arithmetic for the
  same bytes: per nibble, 10 context hashes and a probe into a table of the codec's size; per
  bit, 11 counter reads, 2 x 13 multiply-adds, a squash, 11 counter writes. No checksums, no
  match model, no APMs, no coder, no branches on the data. The ratio codec / floor says how
  much the full model costs beyond touching its memory and doing its dot products;
- ``gzip -9``, ``bzip2 -9``, ``xz -9e``, ``zstd -19`` compressing the same slice.

Reported as throughput (kB/s), bits per byte and ratios to the floor, measured side by side
in one run. Run: ``python -m benchmarks.bench_online_codec`` (under a minute on 2 cores);
writes ``benchmarks/results/online_codec.json`` and refreshes the results README.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
from numba import njit

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Measurement, measure, write_results  # noqa: E402
from tomoprune.mdl import cm_kernel, online  # noqa: E402
from tomoprune.mdl.baselines import COMPRESSORS  # noqa: E402

WORLD192 = Path(__file__).resolve().parents[2] / "shared" / "data" / "text" / "world192.txt"
SLICE = 256 * 1024
REPEATS = 3


def sample() -> bytes:
    if WORLD192.is_file():
        return WORLD192.read_bytes()[:SLICE]
    return (b"The World Factbook 1992: area, population, economy. " * 5500)[:SLICE]


@njit(cache=True)
def arithmetic_floor(data, table_bits):
    """The model's memory traffic and multiply-adds without its logic (see the module doc)."""
    n_hashed = cm_kernel.N_CONTEXTS - 1
    n_inputs = cm_kernel.N_INPUTS
    table = np.full(1 << table_bits, 1 << 31, dtype=np.uint32)
    mask = (1 << (table_bits - 4)) - 1
    weights = np.full(256 * n_inputs, 16384, dtype=np.int64)
    stretch = cm_kernel.stretch_table()
    inputs = np.zeros(n_inputs, dtype=np.int64)
    slots = np.zeros(n_hashed, dtype=np.int64)
    history = 0
    total = 0
    for pos in range(data.shape[0]):
        c0 = 1
        for bitpos in range(8):
            if bitpos == 0 or bitpos == 4:
                for k in range(n_hashed):
                    h = cm_kernel.hash2(history, k * 4 + bitpos + c0)
                    slots[k] = (h & mask) << 4
            bit = (data[pos] >> (7 - bitpos)) & 1
            for k in range(n_hashed):
                inputs[k] = stretch[table[slots[k] + (c0 & 15)] >> 20]
            base = (c0 & 255) * n_inputs
            s = 0
            for _ in range(2):
                s += cm_kernel.mixer_dot(weights, base, inputs, n_inputs)
            total += cm_kernel.squash(s >> 1)
            for k in range(n_hashed):
                table[slots[k] + (c0 & 15)] += bit
            c0 = (c0 << 1) | bit
        history = ((history << 8) | data[pos]) & 0xFFFFFFFF
    return total


def main() -> None:
    data = sample()
    array = np.frombuffer(data, dtype=np.uint8).copy()
    config = online.OnlineConfig()
    online.decompress(online.compress(b"compile first", config))
    arithmetic_floor(array[:64], 16)
    floor, _ = measure(
        "arithmetic floor", lambda: arithmetic_floor(array, config.table_bits), repeats=REPEATS
    )
    encode, blob = measure("online encode", lambda: online.compress(data, config), repeats=REPEATS)
    decode, restored = measure("online decode", lambda: online.decompress(blob), repeats=REPEATS)
    assert restored == data
    rows: list[Measurement] = []
    sizes = {"online encode": len(blob), "online decode": len(blob)}
    timed = [floor, encode, decode]
    for name, compress in COMPRESSORS.items():
        row, out = measure(name, lambda compress=compress: compress(data), repeats=REPEATS)
        sizes[name] = len(out)
        timed.append(row)
    for row in timed:
        extra = {
            "kB_per_s": len(data) / row.median_s / 1e3,
            "vs_floor": row.median_s / floor.median_s,
        }
        if row.name in sizes:
            extra["bits_per_byte"] = 8 * sizes[row.name] / len(data)
        rows.append(row.with_extra(**extra))
        print(row.name, f"{row.median_s:.2f} s", flush=True)
    path = write_results(
        "online_codec",
        rows,
        description=(
            f"Online context-mixing codec on {len(data):,} bytes of world192.txt (default "
            "settings, compiled before timing): encode and decode against the model's "
            "arithmetic floor (the same table traffic and multiply-adds without the logic) and "
            "the classical compressors; median wall time, throughput, bits per byte, ratio to "
            "the floor."
        ),
        config={"bytes": len(data), "online": dataclasses.asdict(config), "repeats": REPEATS},
        notes=["The machine is shared; compare the ratios, not the absolute times."],
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
