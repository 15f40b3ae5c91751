"""Post-training compression of a 1,000-wide MLP: the fast greedy compressor against the literal
algorithm, and the exported sizes on disk against dense float32.

The model is the paper's Digits MLP at width 1,000 (64 -> 1000 -> 40 -> 10, no biases, Glorot
weights) with Gaussian calibration inputs. Timed side by side in one process:

- ``fast``: the whole compression as the library runs it (W2 as a wide layer: one closed-form
  sort; W1 as a pair: batched scoring in ``rounds`` rescoring rounds).
- ``literal``: Algorithm 1 with one loss evaluation per candidate and outcome. A full run
  takes floor(0.9 N) steps over the N candidates, i.e. about 0.9 N^2 (1 - 0.45) x 2 forward
  passes (some 1.6e9 for W2 alone), so it is not run to the end: the median time of one
  candidate's expected-loss evaluation is measured on ``probe`` candidates and multiplied by
  the number of evaluations a full run performs. ``ratio`` = literal / fast.

Sizes: every weight layer compressed (pruning alpha 0.9, p 0.3; quantization at 2, 3, 4 and 8
bits, per-layer grids), exported as CSR (pruned) or bit-packed codes + exceptions (quantized),
against the dense float32 safetensors file; magnitude and round-to-nearest beside them.

Run: ``python -m benchmarks.bench_greedy``; writes ``benchmarks/results/greedy.json``.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import Measurement, measure, write_results
from tomoprune.methods.greedy.algorithm import greedy_compress
from tomoprune.methods.greedy.baselines import baseline_compress
from tomoprune.methods.greedy.candidates import make_candidates
from tomoprune.methods.greedy.export import write_quantized_export
from tomoprune.methods.greedy.literal import reconstruction_loss
from tomoprune.methods.greedy.params import BaselineParams, GreedyParams
from tomoprune.methods.l0.sparse_export import write_sparse_export
from tomoprune.models.spec import save_model
from tomoprune.reproduce.width import paper_mlp

WIDTH, INPUTS, SAMPLES, ROUNDS, PROBE, ALPHA = 1000, 64, 256, 4, 200, 0.9


def literal_evaluations(candidates: int, alpha: float) -> int:
    """Expected-loss evaluations of a full literal run: sum over steps of remaining candidates."""
    steps = math.floor(alpha * candidates)
    return sum(candidates - k for k in range(steps))


@torch.no_grad()
def literal_seconds_per_evaluation(model, x, position, kappa, probe: int) -> float:
    """Median time of one candidate's exact E_t L (two forward passes and the restore)."""
    segment = model[position : kappa + 1]
    x_in = model[:position](x) if position else x
    target = model[: kappa + 1](x)
    cands = make_candidates(model[position], kind="weight", mode="prune", p=0.3, grid=None)
    law = cands.replacement
    original = cands.original_weight.reshape(-1)
    times = []
    for index in range(probe):
        started = time.perf_counter()
        expected = 0.0
        for value, prob in (
            (law.low[index], 1 - law.prob_high[index]),
            (law.high[index], law.prob_high[index]),
        ):
            cands.set(index, float(value))
            expected += float(prob) * reconstruction_loss(segment(x_in), target)
        cands.set(index, float(original[index]))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    torch.manual_seed(0)
    model = paper_mlp(INPUTS, WIDTH, 40, 10, seed=0).eval()
    x = torch.randn(SAMPLES, INPUTS, generator=torch.Generator().manual_seed(1))
    rows: list[Measurement] = []
    for label, sets, position, kappa, count in (
        ("W2 wide (40 x 1000)", dict(wide_layers=(1,), pair_layers=()), 2, 2, 40 * WIDTH),
        ("W1 pair (1000 x 64)", dict(wide_layers=(), pair_layers=(0,)), 0, 2, WIDTH * INPUTS),
    ):
        params = GreedyParams(alpha=ALPHA, calibration_size=SAMPLES, rescore_rounds=ROUNDS, **sets)
        fast, _ = measure(f"fast {label}", lambda p=params: greedy_compress(model, x, p), repeats=3)
        per_eval = literal_seconds_per_evaluation(model, x, position, kappa, PROBE)
        evaluations = literal_evaluations(count, ALPHA)
        literal = per_eval * evaluations
        rows.append(
            fast.with_extra(candidates=count, ratio_literal_over_fast=literal / fast.median_s)
        )
        rows.append(
            Measurement(
                f"literal {label} (extrapolated)", literal, PROBE,
                extra={"seconds_per_evaluation": per_eval, "evaluations": evaluations},
            )
        )  # fmt: skip
        print(f"{label}: fast {fast.median_s:.2f} s, literal ~{literal:.3g} s", flush=True)
    everything = dict(wide_layers=(0, 1, 2), pair_layers=())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        save_model(model, tmp / "dense.safetensors", tmp / "dense.json")
        dense = (tmp / "dense.safetensors").stat().st_size
        rows.append(
            Measurement("dense float32 safetensors", float("nan"), 0, extra={"bytes": dense})
        )
        pruned = greedy_compress(model, x, GreedyParams(calibration_size=SAMPLES, **everything))
        size = write_sparse_export(pruned.model, tmp / "p.safetensors")
        rows.append(Measurement("greedy-prune CSR", float("nan"), 0,
                                extra={"bytes": size, "vs_dense": size / dense}))  # fmt: skip
        mag = baseline_compress(
            model, x, "magnitude", BaselineParams(layers=(0, 1, 2), density=0.37)
        )
        size = write_sparse_export(mag.model, tmp / "m.safetensors")
        rows.append(Measurement("magnitude 37% CSR", float("nan"), 0,
                                extra={"bytes": size, "vs_dense": size / dense}))  # fmt: skip
        positions = [0, 2, 4]
        for bits in (2, 3, 4, 8):
            for name in ("greedy-quant", "rtn"):
                if name == "rtn":
                    result = baseline_compress(
                        model, x, "rtn", BaselineParams(mode="quant", bits=bits, layers=(0, 1, 2))
                    )
                else:
                    result = greedy_compress(
                        model, x, GreedyParams(mode="quant", bits=bits, calibration_size=SAMPLES,
                                               **everything),
                    )  # fmt: skip
                grids = {f"{positions[i]}.weight": g for i, g in result.grids.items()}
                size = write_quantized_export(
                    result.model, grids, tmp / f"{name}{bits}.safetensors"
                )
                rows.append(Measurement(f"{name} {bits} bits", float("nan"), 0,
                                        extra={"bytes": size, "vs_dense": size / dense}))  # fmt: skip
    write_results(
        "greedy",
        rows,
        description=(
            "Randomized greedy post-training compression of the paper's 1000-wide Digits MLP: "
            "the fast compressor (closed-form sort for the wide layer, batched scoring in "
            f"{ROUNDS} rounds for the pair) against the literal algorithm, whose full cost is "
            "extrapolated from the measured median time of one candidate evaluation; then the "
            "exported sizes of greedy and baseline models against dense float32."
        ),
        config={"width": WIDTH, "inputs": INPUTS, "calibration_samples": SAMPLES,
                "rescore_rounds": ROUNDS, "probe_candidates": PROBE, "alpha": ALPHA, "p": 0.3},
        notes=[
            "The literal algorithm is extrapolated, not run: a full run on W2 alone performs "
            f"{literal_evaluations(40 * WIDTH, ALPHA):.3g} expected-loss evaluations.",
            "Greedy quantization leaves 1 - alpha = 10 % of each layer at full precision; the "
            "export stores them as (int32 index, float32 value) exceptions, which is why it is "
            "larger than round-to-nearest at the same bits.",
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
