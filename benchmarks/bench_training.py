"""Training throughput of the train-compress loop against its floor.

The floor of one step at width h is the bare matrix products of that step at the real shapes,
timed in the same process: forward of both layers, weight gradients of both, and the input
gradient of the second layer only (the first layer's input needs none). The loop's step is
everything the loop really does (batch fetch, loss, autograd, hooks, Adam). Ratios come from
the same run, so machine noise affects both sides alike.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from benchmarks.common import Measurement, write_results
from tomoprune import config as cfg
from tomoprune.engine.batches import BatchStream
from tomoprune.engine.method import Phase
from tomoprune.engine.train import make_criterion, make_optimizer, train_phase
from tomoprune.models import build_model

WIDTHS = (512, 128, 32, 16)
BATCH, INPUTS, OUTPUTS = 512, 784, 10


def floor_step_seconds(width: int, steps: int, repeats: int) -> float:
    """Median seconds per step of the bare matrix products at width ``width``."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, INPUTS, generator=g)
    w1 = torch.randn(width, INPUTS, generator=g)
    w2 = torch.randn(OUTPUTS, width, generator=g)
    grad_out = torch.randn(BATCH, OUTPUTS, generator=g)

    def products() -> None:
        h = x @ w1.T  # (512, width) forward, layer 1
        _ = h @ w2.T  # (512, 10) forward, layer 2
        _ = grad_out.T @ h  # (10, width) weight gradient, layer 2
        grad_h = grad_out @ w2  # (512, width) input gradient, layer 2
        _ = grad_h.T @ x  # (width, 784) weight gradient, layer 1

    return _per_step(products, steps, repeats)


def _per_step(fn, steps: int, repeats: int) -> float:
    for _ in range(3):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        samples.append((time.perf_counter() - start) / steps)
    return statistics.median(samples)


def loop_step_seconds(width: int, steps: int, repeats: int, profile: str) -> float:
    """Median seconds per step of ``train_phase`` (the loop's real step) at width ``width``."""
    config = cfg.resolve_run_config("magnitude", profile=profile, overrides={"model.hidden": width})
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60000, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (60000,), generator=g)
    model = build_model(config.model, (1, 28, 28), 10, torch.Generator().manual_seed(1))
    stream = BatchStream(
        x, y, batch_size=BATCH, shuffle=config.train.shuffle, restart_each_cycle=False, seed=0
    )
    optimizer = make_optimizer(model, 1e-3, torch.device("cpu"), config.train.adam)
    criterion = make_criterion("classification", config.train.log_softmax_dim)
    phase = Phase(name="train", max_steps=steps)
    train_phase(
        model,
        Phase(name="warmup", max_steps=5),
        stream=stream,
        optimizer=optimizer,
        criterion=criterion,
    )
    samples = []
    for _ in range(repeats):
        result = train_phase(model, phase, stream=stream, optimizer=optimizer, criterion=criterion)
        samples.append(result.seconds / result.steps)
    return statistics.median(samples)


def run(steps: int = 100, repeats: int = 5) -> list[Measurement]:
    rows = []
    for profile in ("corrected", "reference"):
        for width in WIDTHS:
            floor = floor_step_seconds(width, steps, repeats)
            loop = loop_step_seconds(width, steps, repeats, profile)
            rows.append(
                Measurement(
                    f"{profile} loop step, width {width}",
                    loop,
                    repeats,
                    extra={
                        "floor_step_s": floor,
                        "ratio_to_floor": loop / floor,
                        "target_ratio": 1.3,
                    },
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = run(args.steps, args.repeats)
    path = write_results(
        "training",
        rows,
        description="Seconds per training step of the train-compress loop (batch 512, MNIST "
        "shapes, Adam) against the bare matrix products of the same step at the same shapes "
        "(the floor), medians of repeated blocks of steps measured side by side.",
        config={
            "steps_per_block": args.steps,
            "repeats": args.repeats,
            "batch": BATCH,
            "torch_threads": torch.get_num_threads(),
        },
        notes=[
            "corrected = shuffled batches (index_select copy) and fused Adam; reference = "
            "file-order batch views and PyTorch's for-loop Adam."
        ],
    )
    for row in rows:
        print(
            f"{row.name:40s} {row.median_s * 1e3:8.3f} ms/step  floor "
            f"{row.extra['floor_step_s'] * 1e3:8.3f} ms  ratio {row.extra['ratio_to_floor']:.2f}"
        )
    print(path)


if __name__ == "__main__":
    main()
