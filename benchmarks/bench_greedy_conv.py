"""Unstructured greedy compression of a convolution pair: the fast conv-pair scorer against the
literal algorithm, on the paper's Digits CNN.

The model is softmax(Wfc ReLU(K2 * ReLU(K1 * x))) with K1 32 x 1 x 3 x 3 and K2 16 x 32 x 3 x 3
(padding 1) and Wfc 10 x 1024, float32, PyTorch's default initialisation under a fixed seed
(untrained: the scoring cost does not depend on the weights' values). K1 is compressed weight by
weight as a pair (scored at K2's pre-activation output), pruning with alpha 0.9 and p 0.3, on the
first 128 images of scikit-learn's Digits training split. Timed side by side in one process:

- ``fast``: the whole layer as the library runs it, rescored after every step (the exact greedy)
  and in 8 rescoring rounds.
- ``literal``: Algorithm 1 with two forward passes (K1, ReLU, K2) per candidate, rescored after
  every step. The median time of one candidate's expected-loss evaluation is measured on every
  candidate and multiplied by the evaluations of a full run, sum over the floor(alpha N) steps of
  the candidates left. ``ratio`` = literal / fast.
- A check of that extrapolation: at width 8 in float64 the literal algorithm is run to the end
  and its time set beside its extrapolation; the fast path's choices are compared with it.

Run: ``python -m benchmarks.bench_greedy_conv``; writes ``benchmarks/results/greedy_conv.json``.
"""

from __future__ import annotations

import dataclasses
import time

import torch
from torch import nn

from benchmarks.bench_greedy import literal_evaluations, literal_seconds_per_evaluation
from benchmarks.common import Measurement, measure, write_results
from tomoprune.data import load_dataset
from tomoprune.methods.greedy.algorithm import greedy_compress
from tomoprune.methods.greedy.params import GreedyParams

WIDTH, SAMPLES, ROUNDS, ALPHA, P, CHECK_WIDTH = 32, 128, 8, 0.9, 0.3, 8


def digits_cnn(width: int, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    torch.manual_seed(0)
    return (
        nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 16, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(16 * 8 * 8, 10),
        )
        .to(dtype)
        .eval()
    )


def main() -> None:
    x = load_dataset("digits").train_x[:SAMPLES]  # (128, 1, 8, 8)
    model = digits_cnn(WIDTH)
    count = model[0].weight.numel()
    exact = GreedyParams(alpha=ALPHA, p=P, wide_layers=(), pair_layers=(0,), calibration_size=None)
    rows: list[Measurement] = []
    per_eval = literal_seconds_per_evaluation(model, x, 0, 2, count)
    literal = per_eval * literal_evaluations(count, ALPHA)
    for label, params in (
        ("rescored every step", exact),
        (f"{ROUNDS} rounds", dataclasses.replace(exact, rescore_rounds=ROUNDS)),
    ):
        fast, result = measure(
            f"fast K1 pair, {label}", lambda p=params: greedy_compress(model, x, p), repeats=3
        )
        rows.append(
            fast.with_extra(
                candidates=count,
                compressed=len(result.compressed[0]),
                loss_after=result.layers[0]["loss_after"],
                ratio_literal_over_fast=literal / fast.median_s,
            )
        )
        print(f"fast, {label}: {fast.median_s:.2f} s", flush=True)
    rows.append(
        Measurement(
            "literal K1 pair (extrapolated)", literal, count,
            extra={"candidates": count, "seconds_per_evaluation": per_eval,
                   "evaluations": literal_evaluations(count, ALPHA)},
        )
    )  # fmt: skip
    print(f"literal ~{literal:.3g} s ({per_eval * 1e3:.2f} ms per evaluation)", flush=True)
    # the extrapolation against a full literal run, at a width where one is affordable
    small = digits_cnn(CHECK_WIDTH, torch.float64)
    small_x = x.to(torch.float64)
    small_count = small[0].weight.numel()
    per_eval_small = literal_seconds_per_evaluation(small, small_x, 0, 2, small_count)
    started = time.perf_counter()
    literal_run = greedy_compress(
        small, small_x, dataclasses.replace(exact, implementation="literal")
    )
    literal_s = time.perf_counter() - started
    fast_small, fast_run = measure(
        f"fast K1 pair, width {CHECK_WIDTH} float64, rescored every step",
        lambda: greedy_compress(small, small_x, exact),
        repeats=3,
    )
    rows.append(
        Measurement(
            f"literal K1 pair, width {CHECK_WIDTH} float64 (run to the end)", literal_s, 1,
            extra={"candidates": small_count,
                   "extrapolated_s": per_eval_small * literal_evaluations(small_count, ALPHA),
                   "loss_after": literal_run.layers[0]["loss_after"]},
        )
    )  # fmt: skip
    rows.append(
        fast_small.with_extra(
            candidates=small_count,
            loss_after=fast_run.layers[0]["loss_after"],
            ratio_literal_over_fast=literal_s / fast_small.median_s,
            same_choices_as_literal=fast_run.compressed == literal_run.compressed,
        )
    )
    print(f"width {CHECK_WIDTH}: literal {literal_s:.1g} s, fast {fast_small.median_s:.3f} s")
    write_results(
        "greedy_conv",
        rows,
        description=(
            "Unstructured greedy pruning of K1 as a pair (scored at K2's output) in the paper's "
            f"Digits CNN (K1 {WIDTH} x 1 x 3 x 3, K2 16 x {WIDTH} x 3 x 3, padding 1, float32, "
            f"{SAMPLES} Digits images): the fast conv-pair scorer, exact (rescored every step) "
            f"and in {ROUNDS} rounds, against the literal algorithm, whose full cost is "
            "extrapolated from the median time of one candidate evaluation; at width "
            f"{CHECK_WIDTH} (float64) the literal algorithm is also run to the end."
        ),
        config={"width": WIDTH, "calibration_samples": SAMPLES, "rescore_rounds": ROUNDS,
                "alpha": ALPHA, "p": P, "check_width": CHECK_WIDTH, "seed": 0,
                "network": "untrained, torch.manual_seed(0) default initialisation"},
        notes=[
            "The literal algorithm at width 32 is extrapolated, not run: a full run performs "
            f"{literal_evaluations(count, ALPHA)} expected-loss evaluations.",
            "loss_after is the layer's reconstruction error at K2's output (mean over samples "
            "of the squared l2 distance to the dense network's) after compression; one draw.",
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
