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
import math
import platform
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


def train(model, x, y, *, seconds: float, batch: int, lr: float, seed: int) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    started, steps = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        pick = torch.randint(0, x.shape[0], (batch,), generator=generator)
        warm = min(1.0, (steps + 1) / 100)
        for group in optimizer.param_groups:
            group["lr"] = lr * warm
        logits = model(input_ids=x[pick]).logits[..., :256]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), y[pick].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        steps += 1
    return {
        "steps": steps,
        "seconds": time.perf_counter() - started,
        "last_loss": float(loss.detach()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--text", default=None, help="text file (default: world192.txt)")
    parser.add_argument("--train-seconds", type=float, default=300.0)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--calibration", type=int, default=128, help="calibration segments")
    parser.add_argument("--heldout", type=int, default=256, help="held-out segments scored")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="a save_pretrained folder to start from (no training)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = find_text_file(args.text)
    full, _ = segments(read_bytes(path), args.context)
    split = int(0.9 * full.shape[0])
    train_y, test_y = full[:split], full[split:]
    train_x, test_x = segment_inputs(train_y), segment_inputs(test_y)
    generator = torch.Generator().manual_seed(args.seed + 1)
    held = torch.randperm(test_x.shape[0], generator=generator)[: args.heldout].sort().values
    test_x, test_y = test_x[held], test_y[held]
    calib = torch.randperm(train_x.shape[0], generator=generator)[: args.calibration]
    calibration = [{"input_ids": b} for b in torch.split(train_x[calib], 32)]
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
        )
        model.save_pretrained(out / "dense-model")
    model.eval()
    rows = []
    for label, settings in SETTINGS:
        work = copy.deepcopy(model)
        started = time.perf_counter()
        if settings is not None:
            report = compress_(work, settings, calibration=calibration, layers=LAYERS)
            layer_error = sum(r["relative_error"] for r in report.layers) / len(report.layers)
            density = sum(r["density"] * r["rows"] * r["columns"] for r in report.layers) / sum(
                r["rows"] * r["columns"] for r in report.layers
            )
        else:
            layer_error, density = 0.0, 1.0
        seconds = time.perf_counter() - started
        bpb = bits_per_byte(work, test_x, test_y)
        rows.append(
            {
                "setting": label,
                "compressor": settings.settings() if settings is not None else None,
                "bits_per_byte": bpb,
                "mean_layer_error": layer_error,
                "density": density,
                "seconds": seconds,
            }
        )
        print(f"{label:34s} {bpb:.4f} bpb  layer error {layer_error:.4g}  {seconds:.1f} s")
    dense = rows[0]["bits_per_byte"]
    lines = [
        f"Byte-level GPT-2 ({sum(p.numel() for p in model.parameters())} parameters, "
        f"{args.depth} blocks, width {args.width}, context {args.context}) trained "
        f"{training.get('seconds', 0):.0f} s ({training.get('steps', '-')} steps) on the first "
        f"90 % of {path.name}; held-out: {args.heldout} segments of the last 10 %; "
        f"calibration: {args.calibration} training segments; compressed: {', '.join(LAYERS)} "
        f"(sequential). Machine: {platform.processor() or platform.machine()}, "
        f"{args.threads} threads.",
        "",
        "Mean layer error: ||(W - W_hat) X||^2 / ||W X||^2 on the calibration inputs, averaged "
        "over the layers; for RTN and magnitude (no data) ||W - W_hat||^2 / ||W||^2.",
        "",
        "| setting | bits per byte | vs dense | mean layer error | density | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {r['bits_per_byte']:.4f} | {r['bits_per_byte'] - dense:+.4f} "
            f"| {r['mean_layer_error']:.3g} | {r['density']:.3f} | {r['seconds']:.1f} |"
        )
    atomic_write_text(out / "lm_table.md", "\n".join(lines) + "\n")
    atomic_write_json(
        out / "lm_results.json",
        {
            "args": vars(args),
            "training": training,
            "torch": torch.__version__,
            "rows": rows,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
