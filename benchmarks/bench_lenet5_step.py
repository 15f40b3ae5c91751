"""LeNet-5 (Caffe) training step against its floor, NCHW against channels-last weights.

The floor of one step is the convolutions' own work at the real shapes, timed alone in the same
process: forward of both convolutions, the weight gradients of both and the input gradient of
the second (the image needs none), in the faster of the two memory layouts. The loop's step is
``train_phase`` as the l0 family runs it (batch 500 gathered from a shuffled 45k set, DRR
penalty through autograd, fused Adam); the DRR penalty's forward and backward are also timed
alone (``drr_penalty_s``), the per-step cost of the regulariser hook. Also timed: one validation pass over 5,000 samples (the
plateau rule measures one every ``eval_every`` = 100 steps) at eval batch 5,000 and 500.

Ratios come from one run, side by side, so machine load affects both sides alike.

Run: ``python -m benchmarks.bench_lenet5_step`` (about two minutes on 2 cores); writes
``benchmarks/results/lenet5_step.json`` and refreshes ``benchmarks/results/README.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from benchmarks.common import Measurement, write_results
from tomoprune.engine.batches import BatchStream
from tomoprune.engine.method import Phase
from tomoprune.engine.train import evaluate, make_criterion, make_optimizer, train_phase
from tomoprune.methods.l0.drr import DRRHook as DRR
from tomoprune.models import build_model
from tomoprune.models.layout import apply_memory_format
from tomoprune.runs.resolve import resolve_run_config
from tomoprune.runtime import configure_threads

BATCH, SAMPLES, VALIDATION, CLASSES = 500, 45000, 5000, 10
LAYOUTS = ("contiguous", "channels_last")
_FORMAT = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def _median_seconds(fn: Callable[[], object], calls: int, repeats: int) -> float:
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)


def conv_floor_seconds(layout: str, calls: int, repeats: int) -> float:
    """Forward and backward of LeNet-5's two convolutions alone (no pooling, no fc)."""
    g = torch.Generator().manual_seed(0)
    fmt = _FORMAT[layout]
    x = torch.randn(BATCH, 1, 28, 28, generator=g)
    w1 = torch.randn(20, 1, 5, 5, generator=g).contiguous(memory_format=fmt).requires_grad_()
    h = torch.randn(BATCH, 20, 12, 12, generator=g).contiguous(memory_format=fmt)
    h.requires_grad_()
    w2 = torch.randn(50, 20, 5, 5, generator=g).contiguous(memory_format=fmt).requires_grad_()
    g1 = torch.randn(BATCH, 20, 24, 24, generator=g).contiguous(memory_format=fmt)
    g2 = torch.randn(BATCH, 50, 8, 8, generator=g).contiguous(memory_format=fmt)

    def convolutions() -> None:
        y1 = F.conv2d(x, w1)  # (500, 20, 24, 24)
        torch.autograd.grad(y1, (w1,), g1)  # weight gradient only: the image needs none
        y2 = F.conv2d(h, w2)  # (500, 50, 8, 8)
        torch.autograd.grad(y2, (w2, h), g2)  # weight and input gradients

    return _median_seconds(convolutions, calls, repeats)


def _setup(layout: str):
    config = resolve_run_config("drr", overrides={"model.name": "lenet5"})
    g = torch.Generator().manual_seed(0)
    x = torch.randn(SAMPLES, 1, 28, 28, generator=g)
    y = torch.randint(0, CLASSES, (SAMPLES,), generator=g)
    model = build_model(config.model, (1, 28, 28), CLASSES, torch.Generator().manual_seed(1))
    model = apply_memory_format(model, layout)
    stream = BatchStream(x, y, batch_size=BATCH, shuffle=True, restart_each_cycle=False, seed=0)
    optimizer = make_optimizer(model, 1e-3, torch.device("cpu"), config.train.adam)
    return config, model, stream, optimizer, x[:VALIDATION], y[:VALIDATION]


def loop_step_seconds(layout: str, steps: int, repeats: int) -> float:
    """Median seconds per step of ``train_phase`` with the DRR hook (the l0 family's step)."""
    config, model, stream, optimizer, _, _ = _setup(layout)
    criterion = make_criterion("classification")
    hook = DRR(alpha=config.params.alpha, beta=config.params.beta)
    phase = Phase(name="regularised", max_steps=steps, hooks=(hook,))
    kwargs = {"stream": stream, "optimizer": optimizer, "criterion": criterion}
    train_phase(model, Phase(name="warmup", max_steps=3, hooks=(hook,)), **kwargs)
    samples = []
    for _ in range(repeats):
        result = train_phase(model, phase, **kwargs)
        samples.append(result.seconds / result.steps)
    return statistics.median(samples)


def penalty_seconds(layout: str, calls: int, repeats: int) -> float:
    """The DRR hook's own share of a step: its penalty's forward and backward alone."""
    config, model, _, _, _, _ = _setup(layout)
    hook = DRR(alpha=config.params.alpha, beta=config.params.beta)

    def penalty() -> None:
        for p in model.parameters():
            p.grad = None
        hook.penalty(model).backward()

    return _median_seconds(penalty, calls, repeats)


def validation_seconds(layout: str, eval_batch: int, repeats: int) -> float:
    """One validation pass over 5,000 samples (what the plateau rule measures)."""
    _, model, _, _, vx, vy = _setup(layout)
    return _median_seconds(
        lambda: evaluate(model, vx, vy, kind="classification", batch_size=eval_batch),
        1,
        repeats,
    )


def run(steps: int = 20, repeats: int = 3) -> list[Measurement]:
    torch.ones(1 << 20).exp_()  # start the OpenMP pool before timing
    floors = {layout: conv_floor_seconds(layout, steps, repeats) for layout in LAYOUTS}
    floor = min(floors.values())
    steps_s = {layout: loop_step_seconds(layout, steps, repeats) for layout in LAYOUTS}
    rows = []
    for layout in LAYOUTS:
        validation = {b: validation_seconds(layout, b, repeats) for b in (5000, 500)}
        penalty = penalty_seconds(layout, steps, repeats)
        per_100 = 100 * steps_s[layout]
        rows.append(
            Measurement(
                f"lenet5 loop step, {layout} weights",
                steps_s[layout],
                repeats,
                extra={
                    "conv_floor_s": floor,
                    "conv_floor_this_layout_s": floors[layout],
                    "ratio_to_floor": steps_s[layout] / floor,
                    "speedup_vs_contiguous": steps_s["contiguous"] / steps_s[layout],
                    "drr_penalty_s": penalty,
                    "drr_penalty_share": penalty / steps_s[layout],
                    "validation_eval5000_s": validation[5000],
                    "validation_eval500_s": validation[500],
                    "validation_share_eval5000": validation[5000] / (per_100 + validation[5000]),
                },
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    threads = configure_threads()
    rows = run(args.steps, args.repeats)
    path = write_results(
        "lenet5_step",
        rows,
        description="Seconds per LeNet-5 (Caffe) training step of the l0 family (batch 500, "
        "DRR penalty, fused Adam, MNIST shapes) with NCHW (`contiguous`) and channels-last "
        "convolution weights, against the floor: the two convolutions' forward and backward "
        "alone at the same shapes in the faster layout. `validation_*_s`: one 5,000-sample "
        "validation pass (the plateau rule takes one every 100 steps) at eval batch 5,000 and "
        "500; `validation_share_eval5000` is its share of 100 steps plus one pass.",
        config={"steps_per_block": args.steps, "repeats": args.repeats, "batch": BATCH, **threads},
        notes=[
            "The training loop stores convolution weights channels-last by default "
            "(`train.memory_format`); oneDNN's CPU convolutions otherwise convert NCHW operands "
            "to NHWC and back in every call, forward and backward.",
        ],
    )
    for row in rows:
        print(
            f"{row.name:40s} {row.median_s * 1e3:8.2f} ms/step  floor "
            f"{row.extra['conv_floor_s'] * 1e3:7.2f} ms  ratio {row.extra['ratio_to_floor']:.2f}"
            f"  speed-up {row.extra['speedup_vs_contiguous']:.2f}"
        )
    print(path)


if __name__ == "__main__":
    main()
