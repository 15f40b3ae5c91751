"""Post-training compression of a small byte-level language model, end to end.

A GPT-2 (Hugging Face ``transformers``, built from a config: no download) with a 257-symbol
vocabulary (256 bytes + BOS) is trained for a bounded time on the first 90 % of
``world192.txt``'s aligned segments (our byte data layer, ``tomoprune.data.text``); every
compressor then rewrites a copy of its transformer blocks' projections (``transformer.h.*``:
attention c_attn / c_proj, MLP c_fc / c_proj; embeddings and the tied output layer stay dense)
from calibration segments of the training part, sequentially, and the held-out last 10 % is
scored in bits per byte (mean next-byte cross-entropy / ln 2).

    python -m tomoprune.reproduce.posttraining_lm --out docs/results/posttraining/lm

writes ``lm_table.md`` and ``lm_results.json`` (with the machine, versions and settings).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from tomoprune.data.text import find_text_file, read_bytes, segment_inputs, segments
from tomoprune.fileio import atomic_write_json, atomic_write_text
from tomoprune.models.transformer import BOS
from tomoprune.posttraining import (
    GPTQ,
    RTN,
    Compressor,
    Greedy,
    Magnitude,
    SparseGPT,
    Wanda,
    compress_,
)

SETTINGS: list[tuple[str, Compressor | None]] = [
    ("dense", None),
    ("RTN 4 bit, per channel", RTN(bits=4)),
    ("RTN 4 bit, gs128", RTN(bits=4, group_size=128)),
    ("GPTQ 4 bit, gs128", GPTQ(bits=4, group_size=128)),
    ("GPTQ 4 bit, gs128, act-order", GPTQ(bits=4, group_size=128, act_order=True)),
    ("RTN 3 bit, gs128", RTN(bits=3, group_size=128)),
    ("GPTQ 3 bit, gs128, act-order", GPTQ(bits=3, group_size=128, act_order=True)),
    ("magnitude 50 %", Magnitude(sparsity=0.5)),
    ("Wanda 50 %", Wanda(sparsity=0.5)),
    ("SparseGPT 50 %", SparseGPT(sparsity=0.5)),
    ("magnitude 2:4", Magnitude(nm="2:4")),
    ("Wanda 2:4", Wanda(nm="2:4")),
    ("SparseGPT 2:4", SparseGPT(nm="2:4")),
    ("SparseGPT 2:4 + 4 bit", SparseGPT(nm="2:4", bits=4)),
    # density 1 - alpha + alpha p = 0.5, the same share of weights kept as at 50 %
    ("greedy prune (alpha 5/7, p 0.3)", Greedy(mode="prune", alpha=5 / 7, p=0.3)),
    ("greedy quant 4 bit (alpha 1)", Greedy(mode="quant", bits=4, alpha=1.0)),
]
LAYERS = ["transformer.h.*"]


def build_model(context: int, width: int, depth: int, heads: int, seed: int):
    import transformers

    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        vocab_size=BOS + 1,
        n_positions=context,
        n_embd=width,
        n_layer=depth,
        n_head=heads,
        bos_token_id=BOS,
        eos_token_id=BOS,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    return transformers.GPT2LMHeadModel(config)


def bits_per_byte(model, x: torch.Tensor, y: torch.Tensor, batch: int = 64) -> float:
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, x.shape[0], batch):
            logits = model(input_ids=x[start : start + batch]).logits[..., :256]
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, 256), y[start : start + batch].reshape(-1), reduction="sum"
            )
            total += float(loss)
            count += y[start : start + batch].numel()
    return total / count / math.log(2)


def train(
    model,
    x,
    y,
    *,
    seconds: float,
    batch: int,
    lr: float,
    seed: int,
    steps: int | None = None,
    evaluate: tuple[torch.Tensor, torch.Tensor] | None = None,
    eval_every: int = 0,
) -> dict[str, Any]:
    """AdamW on random training segments, 100 warm-up steps.

    With ``steps`` the run is that many steps (reproducible) and the learning rate decays on a
    cosine to a tenth of ``lr`` after the warm-up; without, it trains for ``seconds`` at a
    constant rate. ``evaluate`` (held-out inputs, targets) is scored every ``eval_every``
    steps: the learning curve in the record.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    started, cpu_started, done = time.perf_counter(), time.process_time(), 0
    curve: list[dict[str, float]] = []
    while (done < steps) if steps is not None else (time.perf_counter() - started < seconds):
        pick = torch.randint(0, x.shape[0], (batch,), generator=generator)
        rate = lr * min(1.0, (done + 1) / 100)
        if steps is not None and done >= 100:
            progress = (done - 100) / max(1, steps - 100)
            rate = lr * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))
        for group in optimizer.param_groups:
            group["lr"] = rate
        logits = model(input_ids=x[pick]).logits[..., :256]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), y[pick].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        done += 1
        if evaluate is not None and eval_every and done % eval_every == 0:
            bpb = bits_per_byte(model, *evaluate)
            model.train()
            curve.append({"step": done, "seconds": time.perf_counter() - started, "bpb": bpb})
            print(f"step {done}: held-out {bpb:.3f} bits per byte", flush=True)
    return {
        "steps": done,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "last_loss": float(loss.detach()),
        "curve": curve,
    }


def machine() -> dict[str, Any]:
    """CPU model, cores, load and niceness at this moment (the machine is shared)."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "nice": os.nice(0),
        "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--text", default=None, help="text file (default: world192.txt)")
    parser.add_argument("--train-seconds", type=float, default=300.0)
    parser.add_argument(
        "--train-steps",
        type=int,
        help="train this many steps with a cosine decay (reproducible) instead of for "
        "--train-seconds at a constant rate",
    )
    parser.add_argument("--eval-every", type=int, default=0, help="learning-curve interval")
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--calibration", type=int, default=128, help="calibration segments")
    parser.add_argument(
        "--calibration-seeds",
        default="0",
        help="comma-separated seeds of the calibration draw (and of greedy's generator); the "
        "table gives the mean and the range over them",
    )
    parser.add_argument("--heldout", type=int, default=256, help="held-out segments scored")
    parser.add_argument(
        "--heldout-span",
        type=float,
        default=1.0,
        help="draw the held-out segments from this first share of the held-out part (1: all "
        "of the last 10 %%; world192.txt's appendices fill its last three quarters)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="a save_pretrained folder to start from (no training)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started_on = machine()
    path = find_text_file(args.text)
    full, _ = segments(read_bytes(path), args.context)
    split = int(0.9 * full.shape[0])
    train_y, test_y = full[:split], full[split:]
    train_x, test_x = segment_inputs(train_y), segment_inputs(test_y)
    span = max(1, round(args.heldout_span * test_x.shape[0]))
    test_x, test_y = test_x[:span], test_y[:span]
    generator = torch.Generator().manual_seed(args.seed + 1)
    held = torch.randperm(test_x.shape[0], generator=generator)[: args.heldout].sort().values
    test_x, test_y = test_x[held], test_y[held]
    seeds = [int(v) for v in args.calibration_seeds.split(",")]
    calibrations = {}
    for c in seeds:
        # seed 0 draws exactly what a single-seed run always drew
        draw = generator if c == seeds[0] else torch.Generator().manual_seed(1000 + c)
        calib = torch.randperm(train_x.shape[0], generator=draw)[: args.calibration]
        calibrations[c] = [{"input_ids": b} for b in torch.split(train_x[calib], 32)]
    if args.model:
        import transformers

        model = transformers.GPT2LMHeadModel.from_pretrained(args.model)
        training: dict[str, Any] = {"from": args.model}
    else:
        model = build_model(args.context, args.width, args.depth, args.heads, args.seed)
        training = train(
            model,
            train_x,
            train_y,
            seconds=args.train_seconds,
            batch=args.batch,
            lr=args.lr,
            seed=args.seed,
            steps=args.train_steps,
            evaluate=(test_x[:64], test_y[:64]),
            eval_every=args.eval_every,
        )
        training["machine_after"] = machine()
        model.save_pretrained(out / "dense-model")
    model.eval()
    rows = []
    for label, settings in SETTINGS:
        runs = []
        data_free = settings is None or not settings.needs_calibration
        for c in seeds[:1] if data_free else seeds:
            work = copy.deepcopy(model)
            started = time.perf_counter()
            if settings is not None:
                chosen = settings
                if isinstance(settings, Greedy):
                    chosen = dataclasses.replace(settings, seed=c)
                report = compress_(work, chosen, calibration=calibrations[c], layers=LAYERS)
                layer_error = sum(r["relative_error"] for r in report.layers) / len(report.layers)
                weights = sum(r["rows"] * r["columns"] for r in report.layers)
                density = (
                    sum(r["density"] * r["rows"] * r["columns"] for r in report.layers) / weights
                )
            else:
                layer_error, density = 0.0, 1.0
            seconds = time.perf_counter() - started
            bpb = bits_per_byte(work, test_x, test_y)
            runs.append(
                {
                    "calibration_seed": None if data_free else c,
                    "bits_per_byte": bpb,
                    "mean_layer_error": layer_error,
                    "density": density,
                    "seconds": seconds,
                }
            )
            print(
                f"{label:34s} seed {c}: {bpb:.4f} bpb  layer error {layer_error:.4g}  "
                f"{seconds:.1f} s",
                flush=True,
            )
        values = [r["bits_per_byte"] for r in runs]
        rows.append(
            {
                "setting": label,
                "compressor": settings.settings() if settings is not None else None,
                "bits_per_byte": statistics.mean(values),
                "bits_per_byte_range": [min(values), max(values)],
                "mean_layer_error": statistics.mean(r["mean_layer_error"] for r in runs),
                "density": statistics.mean(r["density"] for r in runs),
                "seconds": statistics.median(r["seconds"] for r in runs),
                "runs": runs,
            }
        )
    dense = rows[0]["bits_per_byte"]
    trained = (
        f"trained {training.get('steps', '-')} steps ({training.get('seconds', 0):.0f} s, batch "
        f"{args.batch}, lr {args.lr:g}"
        + (", cosine decay" if args.train_steps else "")
        + f") on the first 90 % of {path.name}"
        if not args.model
        else f"loaded from {args.model}"
    )
    lines = [
        f"Byte-level GPT-2 ({sum(p.numel() for p in model.parameters())} parameters, "
        f"{model.config.n_layer} blocks, width {model.config.n_embd}, context {args.context}), "
        "one training seed "
        f"({args.seed}), {trained}; held-out: {args.heldout} segments of the last 10 %"
        + (f" (its first {args.heldout_span:.0%})" if args.heldout_span < 1 else "")
        + "; "
        f"calibration: {args.calibration} training segments, seeds {args.calibration_seeds} "
        f"(bits per byte: mean, and the range over the seeds; RTN and magnitude use no data); "
        f"compressed: {', '.join(LAYERS)} (sequential). Machine: {started_on['cpu']}, "
        f"{started_on['cores']} cores shared (load average {started_on['load_average'][0]:.1f} "
        f"at the start), {args.threads} thread(s), nice {started_on['nice']}.",
        "",
        "Mean layer error: ||(W - W_hat) X||^2 / ||W X||^2 on the calibration inputs, averaged "
        "over the layers; for RTN and magnitude (no data) ||W - W_hat||^2 / ||W||^2. Seconds: "
        "the compression of all layers, median over the seeds.",
        "",
        "| setting | bits per byte | range over seeds | vs dense | mean layer error | density "
        "| seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        low, high = r["bits_per_byte_range"]
        spread = f"{low:.4f}-{high:.4f}" if len(r["runs"]) > 1 else "-"
        lines.append(
            f"| {r['setting']} | {r['bits_per_byte']:.4f} | {spread} "
            f"| {r['bits_per_byte'] - dense:+.4f} | {r['mean_layer_error']:.3g} "
            f"| {r['density']:.3f} | {r['seconds']:.1f} |"
        )
    atomic_write_text(out / "lm_table.md", "\n".join(lines) + "\n")
    atomic_write_json(
        out / "lm_results.json",
        {
            "args": vars(args),
            "training": training,
            "machine": started_on,
            "machine_at_end": machine(),
            "torch": torch.__version__,
            "rows": rows,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
