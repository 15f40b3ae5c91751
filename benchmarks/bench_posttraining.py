"""Post-training compressors against the float64 oracle and the reference implementations.

For each layer (Gaussian W, correlated inputs X = Z A, 2048 calibration samples) and setting,
our compressor (``tomoprune.posttraining``, float32 sweep, one thread) and the oracle (the
papers' equations in float64, ``tomoprune.posttraining.oracle``) run on the same W and
H = X^T X / n. Error = ||(W - W_hat) X||^2 / ||W X||^2 on the calibration set; "agreement" is
the share of identical codes (quantizers) or mask entries (pruners). The reference seconds are
the IST-DASLab / locuslab figures measured on this machine and quoted in
``../shared/reference/posttraining-anchors.md`` (median of 3, one thread); the time ratio
compares our median against them (the machine is shared: read ratios, not absolute times).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import Measurement, measure, write_results
from tomoprune.fileio import atomic_write_text
from tomoprune.posttraining import GPTQ, RTN, SparseGPT, Wanda, oracle
from tomoprune.posttraining.base import LayerContext, LayerProblem
from tomoprune.posttraining.statistics import HessianAccumulator

DOCS_TABLE = Path(__file__).resolve().parents[1] / "docs" / "results" / "posttraining" / "bench.md"

SAMPLES = 2048
LAYERS = {"g1024x1024": (1024, 1024), "dead512x784": (512, 784), "g4096x1024": (4096, 1024)}
# the dead-input layer: 78 of 784 inputs always zero (like MNIST's border pixels), inputs
# scaled by 0.01 (where an unnormalised Hessian let dead weights win mask slots)
DEAD_INPUTS, DEAD_SCALE = 78, 0.01
SETTINGS = {
    "GPTQ 4b gs128 act-order": GPTQ(bits=4, group_size=128, act_order=True),
    "GPTQ 4b per-channel": GPTQ(bits=4),
    "GPTQ 3b per-channel": GPTQ(bits=3),
    "RTN 4b per-channel": RTN(bits=4),
    "SparseGPT 50%": SparseGPT(sparsity=0.5),
    "SparseGPT 2:4": SparseGPT(nm="2:4"),
    "Wanda 50%": Wanda(sparsity=0.5),
    "Wanda 2:4": Wanda(nm="2:4"),
}
# reference seconds (IST-DASLab gptq / sparsegpt, locuslab wanda) from the anchors file:
# rows "act-order + gs=128" 4b, "per-channel asym, gs=-1 (repo default)" 4b and 3b, "RTN 4b
# per-channel asym", "SparseGPT 50% unstructured", "SparseGPT 2:4", "Wanda 50%", "Wanda 2:4"
REFERENCE_SECONDS = {
    "g1024x1024": {
        "GPTQ 4b gs128 act-order": 0.207,
        "GPTQ 4b per-channel": 0.199,
        "GPTQ 3b per-channel": 1.02,
        "RTN 4b per-channel": 0.00303,
        "SparseGPT 50%": 0.864,
        "SparseGPT 2:4": 0.7,
        "Wanda 50%": 0.244,
        "Wanda 2:4": 0.189,
    },
    "dead512x784": {
        "GPTQ 4b gs128 act-order": 0.345,
        "GPTQ 4b per-channel": 0.436,
        "GPTQ 3b per-channel": 0.351,
        "RTN 4b per-channel": 0.00142,
        "SparseGPT 50%": 0.322,
        "SparseGPT 2:4": 0.485,
        "Wanda 50%": 0.096,
        "Wanda 2:4": 0.0504,
    },
    "g4096x1024": {
        "GPTQ 4b gs128 act-order": 0.427,
        "GPTQ 4b per-channel": 0.368,
        "GPTQ 3b per-channel": 0.382,
        "RTN 4b per-channel": 0.0121,
        "SparseGPT 50%": 0.743,
        "SparseGPT 2:4": 0.394,
        "Wanda 50%": 0.262,
        "Wanda 2:4": 0.104,
    },
}


def make_layer(name: str, rows: int, columns: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, columns, generator=g) / columns**0.5
    z = torch.randn(SAMPLES, columns, generator=g)
    a = torch.eye(columns) + torch.randn(columns, columns, generator=g) / columns**0.5
    x = z @ a
    if name.startswith("dead"):
        dead = torch.randperm(columns, generator=g)[:DEAD_INPUTS]
        x = DEAD_SCALE * x
        x[:, dead] = 0
    return w, x


def accumulate(x: torch.Tensor, columns: int) -> HessianAccumulator:
    """H over the samples, added in batches of 256 as the driver does."""
    acc = HessianAccumulator(columns)
    for batch in torch.split(x, 256):
        acc.add(batch)
    return acc


def run_oracle(label: str, settings, w: np.ndarray, h: np.ndarray, x: np.ndarray):
    """(W_hat, codes or kept mask) from the float64 oracle for one setting."""
    if isinstance(settings, GPTQ):
        return oracle.gptq(
            w, h, settings.bits, group_size=settings.group_size, act_order=settings.act_order
        )
    if isinstance(settings, RTN):
        return oracle.rtn(w, settings.bits)
    if isinstance(settings, SparseGPT):
        q, keep = oracle.sparsegpt(w, h, settings.sparsity, nm=settings.nm)
        return q, keep
    keep = oracle.wanda(w, x, settings.sparsity, settings.nm)
    return w * keep, keep


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_markdown(rows: list[Measurement]) -> None:
    """The table of docs/results/posttraining/bench.md, from this run's measurements."""
    lines = [
        f"Measured by `python -m benchmarks.bench_posttraining {' '.join(sys.argv[1:])}` "
        f"on {cpu_name()} "
        f"({torch.get_num_threads()} thread, machine shared with other jobs: the 1-minute load "
        "average of its 2 cores is in the last column). W Gaussian, "
        f"X = Z A correlated, {SAMPLES} calibration samples, damping 0.01, block 128. Error = "
        "||(W - W_hat) X||^2 / ||W X||^2 on the calibration set. Oracle: the papers' equations "
        "in float64 (`tomoprune.posttraining.oracle`). Reference s: the IST-DASLab / locuslab "
        "code on this machine, from ../shared/reference/posttraining-anchors.md.",
        "",
        "| layer | setting | error | oracle error | ratio | agreement | s | oracle s | "
        "reference s | s / reference | load average |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        e = row.extra
        if "error" not in e:
            lines.append(f"| {row.name} | | | | | | {row.median_s:.3f} | | | | |")
            continue
        layer, setting = row.name.split(" ", 1)
        if "oracle_error" in e:
            versus = (
                f"{e['oracle_error']:.4g} | {e['error_ratio']:.4f} | "
                f"{100 * e['agreement']:.2f} % | {row.median_s:.3f} | {e['oracle_s']:.2f}"
            )
        else:
            versus = f"(not run) | | | {row.median_s:.3f} | "
        lines.append(
            f"| {layer} | {setting} | {e['error']:.4g} | {versus} | {e['reference_s']:.3g} | "
            f"{e['time_vs_reference']:.2f} | {e['load_average']:.1f} |"
        )
    DOCS_TABLE.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(DOCS_TABLE, "\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--oracle-layers",
        default=",".join(LAYERS),
        help="layers on which the float64 oracle also runs (it takes minutes per setting on "
        "a loaded machine); the others are timed without it",
    )
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated labels")
    args = parser.parse_args()
    oracle_layers = set(args.oracle_layers.split(",")) if args.oracle_layers else set()
    chosen = [label for label in SETTINGS if label in args.settings.split(",")]
    torch.set_num_threads(1)
    rows_out: list[Measurement] = []
    for layer, (rows, columns) in LAYERS.items():
        w, x = make_layer(layer, rows, columns)
        hessian_s, acc = measure(
            f"{layer} Hessian (2048 samples in batches of 256)",
            lambda x=x, n=columns: accumulate(x, n),
            repeats=3,
        )
        rows_out.append(hessian_s)
        h = acc.hessian
        problem = LayerProblem(name=layer, weight=w, hessian=h, samples=SAMPLES)
        w64, h64, x64 = w.double().numpy(), h.numpy(), x.double().numpy()
        for label in chosen:
            settings = SETTINGS[label]
            context = LayerContext(rng=np.random.default_rng(0))
            ours, result = measure(
                f"{layer} {label}",
                lambda s=settings, c=context, p=problem: s.compress_layer(p, c),
                repeats=3,
            )
            mine = result.weight.double().numpy()
            err = oracle.relative_error(w64, mine, h64)
            reference = REFERENCE_SECONDS[layer][label]
            extra = {
                "error": err,
                "reference_s": reference,
                "time_vs_reference": ours.median_s / reference,
                "load_average": os.getloadavg()[0],
            }
            if layer in oracle_layers:
                started = time.perf_counter()
                expected, marks = run_oracle(label, settings, w64, h64, x64)
                oracle_s = time.perf_counter() - started
                err_oracle = oracle.relative_error(w64, expected, h64)
                if result.quant is not None:
                    agreement = float(np.mean(result.quant.codes.numpy() == marks))
                else:
                    agreement = float(np.mean((mine != 0) == marks))
                extra.update(
                    oracle_error=err_oracle,
                    error_ratio=err / err_oracle,
                    agreement=agreement,
                    oracle_s=oracle_s,
                )
            rows_out.append(ours.with_extra(**extra))
            print(f"{layer} {label}: {ours.median_s:.3f} s, {extra}", flush=True)
    write_markdown(rows_out)
    write_results(
        "posttraining",
        rows_out,
        description=(
            "Post-training compressors on one layer: error and time of tomoprune's float32 "
            "solvers against a float64 oracle of the papers' equations (same W, same H), and "
            "time against the reference implementations' figures measured on this machine."
        ),
        config={
            "samples": SAMPLES,
            "layers": {k: list(v) for k, v in LAYERS.items()},
            "threads": 1,
            "damp": 0.01,
            "block_size": 128,
        },
        notes=[
            "Times exclude the Hessian accumulation (its own row); the reference figures come "
            "from ../shared/reference/posttraining-anchors.md, measured on this machine on "
            "2026-12-02 while it was shared, as ours are.",
            "Agreement: share of identical integer codes (GPTQ, RTN) or mask entries "
            "(SparseGPT, Wanda) between the float32 solver and the float64 oracle.",
        ],
    )


if __name__ == "__main__":
    main()
