"""What rescoring an unstructured pair layer in rounds costs in accuracy, and saves in time.

Through the activation, the greedy scores of a pair layer change after every replacement, so the
exact algorithm rescores after every step (``rescore_rounds=None``): floor(alpha N) scoring
passes. ``rescore_rounds=R`` scores once per round and replaces the R-th part of the weights
in score order. The width experiment uses a few rounds at large widths, where the exact loop is
out of reach on a CPU (57,600 scoring passes for the 1,000-wide Digits MLP's W1). This
benchmark measures, side by side on one trained net where the exact loop still runs, whether
the rounds change what the paper measures.

Net: the paper's Digits MLP at width ``WIDTH`` (64 -> WIDTH -> 40 -> 10, no biases), trained
as the width experiment trains it (Adam, 60 epochs). Compression: W1 as a pair scored at W2's
output, pruning (alpha 0.9, p 0.3) and 2-bit quantization, ``REPEATS`` seeds per setting, the
same seeds for every setting. Per setting: the median time of one compression, Delta on the
test split (mean and 95 % t-interval over the seeds) and the score's loss after compression
on the calibration inputs (the quantity the greedy loop minimises).

Run: ``python -m benchmarks.bench_greedy_rescoring``; writes
``benchmarks/results/greedy_rescoring.json``.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import replace

import numpy as np
from scipy import stats

from benchmarks.common import Measurement, write_results
from tomoprune.methods.greedy.algorithm import greedy_compress
from tomoprune.methods.greedy.metrics import normalised_error
from tomoprune.methods.greedy.params import GreedyParams
from tomoprune.reproduce.width import WidthConfig, load_data, paper_mlp, train_net

WIDTH, CALIBRATION, REPEATS = 50, 128, 5
ROUNDS: tuple[int | None, ...] = (1, 4, 16, 64, 256, None)


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95 % t-interval."""
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, float("nan")
    half = stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values))
    return mean, float(half)


def main() -> None:
    config = WidthConfig(dataset="digits")
    data = load_data(config)
    model = train_net(config, data, paper_mlp(data.inputs, WIDTH, 40, data.outputs, 0), 0)
    calibration = data.train_x[:CALIBRATION]
    rows: list[Measurement] = []
    for mode in ("prune", "quant"):
        for rounds in ROUNDS:
            params = GreedyParams(
                mode=mode, bits=2, wide_layers=(), pair_layers=(0,), rescore_rounds=rounds,
                calibration_size=CALIBRATION,
            )  # fmt: skip
            times, deltas, losses = [], [], []
            for seed in range(REPEATS):
                started = time.perf_counter()
                result = greedy_compress(model, calibration, replace(params, seed=seed))
                times.append(time.perf_counter() - started)
                error = normalised_error(model, result.model, data.test_x, data.kind)
                deltas.append(error["delta"])
                losses.append(result.layers[0]["loss_after"])
            delta, delta_half = interval(deltas)
            loss, loss_half = interval(losses)
            label = "exact (every step)" if rounds is None else f"{rounds} rounds"
            rows.append(
                Measurement(
                    f"{mode}{' 2 bits' if mode == 'quant' else ''}: {label}",
                    statistics.median(times), REPEATS, tuple(times),
                    extra={"delta_mean": delta, "delta_ci95": delta_half,
                           "calibration_loss_mean": loss, "calibration_loss_ci95": loss_half},
                )
            )  # fmt: skip
            print(f"{rows[-1].name}: {rows[-1].median_s:.2f} s, Delta {delta:.3e} "
                  f"+- {delta_half:.1e}, loss {loss:.4f} +- {loss_half:.4f}", flush=True)  # fmt: skip
    write_results(
        "greedy_rescoring",
        rows,
        description=(
            "Unstructured pair layer (W1 of the paper's Digits MLP, width "
            f"{WIDTH}) compressed by the greedy algorithm rescored after every step (exact) or "
            "in R rounds: time of one compression, Delta on the test split and the score's "
            f"loss on the calibration inputs, mean and 95 % t-interval over {REPEATS} seeds."
        ),
        config={
            "width": WIDTH,
            "calibration_samples": CALIBRATION,
            "repeats": REPEATS,
            "alpha": 0.9,
            "p": 0.3,
            "quant_bits": 2,
            "rounds": ["exact" if r is None else r for r in ROUNDS],
        },  # fmt: skip
        notes=[
            "Each seed draws the replacements of its own run, so settings differ by the draws "
            "as well as by the rounds; the intervals say how much of a difference the draws "
            "alone make."
        ],
    )


if __name__ == "__main__":
    main()
