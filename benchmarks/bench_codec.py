"""Benchmark ``codec``: how fast the byte-transformer compressor encodes and decodes.

On a 128 KiB slice of world192.txt (a synthetic text when ``../shared`` is absent) with the
default architecture (``TransformerConfig()``, untrained: speed does not depend on the
weights), one thread: the all-positions forward pass that measures the code length (the floor:
the same model arithmetic, batched over positions), ``codec.encode`` and ``codec.decode``
(one position per model call, all segments of a group together). Reported as throughput and as
ratios to the forward pass, measured side by side in one run. The decode of the whole
2.47 MB world192.txt takes about ``2.47 MB / decode throughput``.

Run: ``python -m benchmarks.bench_codec`` (about a minute on 2 cores); writes
``benchmarks/results/codec.json`` and refreshes ``benchmarks/results/README.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Measurement, measure, write_results  # noqa: E402
from tomoprune.mdl import codec  # noqa: E402
from tomoprune.mdl.codelength import code_length_bits  # noqa: E402
from tomoprune.mdl.model_io import round_trip  # noqa: E402
from tomoprune.models.transformer import ByteTransformer, TransformerConfig  # noqa: E402

WORLD192 = Path(__file__).resolve().parents[2] / "shared" / "data" / "text" / "world192.txt"
SLICE = 128 * 1024
REPEATS = 3


def sample() -> bytes:
    if WORLD192.is_file():
        return WORLD192.read_bytes()[:SLICE]
    return (b"The World Factbook 1992: area, population, economy. " * 4000)[:SLICE]


def main() -> None:
    torch.set_num_threads(1)
    data = sample()
    model, _ = round_trip(ByteTransformer(TransformerConfig()))
    words = codec.encode(model, data)
    rows: list[Measurement] = []
    forward, _ = measure("code length (all positions)", lambda: code_length_bits(model, data),
                         repeats=REPEATS)  # fmt: skip
    encode, _ = measure("encode", lambda: codec.encode(model, data), repeats=REPEATS)
    decode, restored = measure(
        "decode", lambda: codec.decode(model, words, len(data)), repeats=REPEATS
    )
    assert restored == data
    for row in (forward, encode, decode):
        rows.append(
            row.with_extra(
                kB_per_s=len(data) / row.median_s / 1e3,
                vs_forward=row.median_s / forward.median_s,
                world192_seconds=2_473_401 / (len(data) / row.median_s),
            )
        )
        print(row.name, f"{row.median_s:.2f} s", flush=True)
    path = write_results(
        "codec",
        rows,
        description=(
            f"Byte-transformer compressor on {len(data):,} bytes of world192.txt, default "
            "architecture, one thread: the batched code-length pass, range encoding and "
            "decoding (median wall time, throughput, ratio to the batched pass, and the "
            "implied time for the whole 2.47 MB file)."
        ),
        config={
            "bytes": len(data),
            "architecture": TransformerConfig().as_dict(),
            "group_size": codec.DEFAULT_GROUP_SIZE,
            "repeats": REPEATS,
            "torch_threads": 1,
        },
        notes=["The machine is shared; compare the ratios, not the absolute times."],
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
