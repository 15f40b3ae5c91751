"""The model zoo: tomoprune and Torch-Pruning on every torchvision classifier and on Hugging Face
transformers (tiny configs), at 40 % of units, each run measured the same way.

Per model and method (``tomoprune-magnitude``, ``tomoprune-dtc``, ``tp-magnitude``): ok or the
one-line error; parameters and FLOPs (per sample) before and after; CPU latency at batch 1 and
32 before and after (medians of interleaved repeats, one thread; batch 32 is skipped when the
batch-1 time says it would not fit the run's time budget, and recorded as skipped); seconds to
find the groups and prune; reload exactness (tomoprune: safetensors + removal record reloaded
onto a freshly built model, outputs compared with ``torch.equal``); ONNX export checked under
onnxruntime. Every run is a subprocess with a budget of CPU seconds (``--budget-s``; on a shared
machine the wall clock measures the load, not the work; a run past 1.25 x budget + 30 s is
recorded as a timeout), and writes ``runs/<model>__<method>.json`` under ``--out``; runs already there are
skipped, so the benchmark resumes where it stopped. ``zoo.json`` and ``zoo.md`` are rebuilt
from the run files at the end (or alone with ``--table``).

    python -m benchmarks.zoo --out benchmarks/results/zoo              # everything (hours)
    python -m benchmarks.zoo --models resnet18,hf-gpt2 --methods tomoprune-magnitude
"""

from __future__ import annotations

import argparse
import functools
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tomoprune.fileio import atomic_write_json, atomic_write_text

METHODS = ("tomoprune-magnitude", "tomoprune-dtc", "tp-magnitude")
FRACTION = 0.4
HF_MODELS = ("hf-bert", "hf-gpt2", "hf-llama", "hf-vit")


def model_names() -> list[str]:
    """The Hugging Face models, then every torchvision classifier, smallest first (so a run
    cut short covers the most models)."""
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    return list(HF_MODELS) + sorted(names, key=lambda name: (_parameter_count(name), name))


def _parameter_count(name: str) -> int:
    """From torchvision's weight metadata (nothing is built or downloaded)."""
    import torchvision

    weights = torchvision.models.get_model_weights(name)
    return min(w.meta["num_params"] for w in weights)


def image_size(name: str, resolution: int) -> int:
    """The input side used for ``name``: ``resolution``, raised where the architecture needs
    more (Inception's stem: 75 pixels; MaxViT: 224) and rounded to the patch size of the ViTs."""
    if name.startswith("inception"):
        return max(resolution, 96)
    if name.startswith("maxvit"):
        return 224  # its 7x7 windows need a side divisible by 7 at strides 4 to 32
    if name.startswith("vit_"):
        patch = int(name.rsplit("_", 1)[1])
        return max(patch, round(resolution / patch) * patch)
    return resolution


def build(name: str, resolution: int = 224) -> tuple[nn.Module, Any]:
    """The model (random weights, seeded, eval mode) and one example input batch of size 1.

    torchvision models see ``resolution`` x ``resolution`` inputs (``image_size``; 299 for
    Inception at full size); the ViTs and MaxViT are built for that size. The Hugging Face
    models keep their own small inputs.
    """
    torch.manual_seed(0)
    if name.startswith("hf-"):
        return _build_hf(name)
    import torchvision

    size = (
        299 if name.startswith("inception") and resolution == 224 else image_size(name, resolution)
    )
    kwargs: dict[str, Any] = {}
    if name.startswith("vit_") and size != 224:
        kwargs["image_size"] = size
    if name.startswith("maxvit") and size != 224:
        kwargs["input_size"] = (size, size)
    model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
    return model, torch.randn(1, 3, size, size)


def _build_hf(name: str) -> tuple[nn.Module, Any]:
    import transformers as tf

    common = {"num_hidden_layers": 4, "num_attention_heads": 8, "intermediate_size": 512}
    if name == "hf-bert":
        config = tf.BertConfig(hidden_size=128, vocab_size=1000, **common)
        return tf.BertForSequenceClassification(config).eval(), _tokens(1000)
    if name == "hf-gpt2":
        config = tf.GPT2Config(n_embd=128, n_layer=4, n_head=8, n_inner=512, vocab_size=1000)
        return tf.GPT2LMHeadModel(config).eval(), _tokens(1000)
    if name == "hf-llama":
        config = tf.LlamaConfig(hidden_size=128, vocab_size=1000, num_key_value_heads=2, **common)
        return tf.LlamaForCausalLM(config).eval(), _tokens(1000)
    config = tf.ViTConfig(image_size=224, patch_size=16, hidden_size=128, num_labels=10, **common)
    return tf.ViTForImageClassification(config).eval(), {
        "pixel_values": torch.randn(1, 3, 224, 224)
    }


def _tokens(vocab: int) -> dict[str, torch.Tensor]:
    return {
        "input_ids": torch.randint(0, vocab, (1, 32), generator=torch.Generator().manual_seed(0))
    }


def _call(model: nn.Module, inputs: Any) -> Any:
    return model(**inputs) if isinstance(inputs, dict) else model(inputs)


def _first_tensor(output: Any) -> torch.Tensor:
    from tomoprune.structure.groups import tensors_of

    return tensors_of(output)[0]


def _batched(inputs: Any, batch: int) -> Any:
    if isinstance(inputs, dict):
        return {k: v.expand(batch, *v.shape[1:]).contiguous() for k, v in inputs.items()}
    return inputs.expand(batch, *inputs.shape[1:]).contiguous()


def _flops(model: nn.Module, inputs: Any) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        _call(model, inputs)
    return int(counter.get_total_flops())


def _latency(models: dict[str, nn.Module], inputs: Any, deadline: float) -> dict[str, Any]:
    """Median seconds per forward of each model at batch 1 and 32, repeats interleaved."""
    out: dict[str, Any] = {}
    for batch in (1, 32):
        x = _batched(inputs, batch)
        times: dict[str, list[float]] = {k: [] for k in models}
        with torch.no_grad():
            for model in models.values():
                _call(model, x)  # warm-up
            for _ in range(5):
                for key, model in models.items():
                    start = time.perf_counter()
                    _call(model, x)
                    times[key].append(time.perf_counter() - start)
                if time.process_time() > deadline:
                    break
        for key, samples in times.items():
            out[f"latency_b{batch}_{key}_s"] = statistics.median(samples)
        one = sum(statistics.median(s) for s in times.values())
        if batch == 1 and time.process_time() + one * 32 * 7 > deadline:
            out["latency_b32"] = "skipped: would not fit the time budget"
            break
    return out


def _classifier(model: nn.Module) -> list[nn.Module]:
    """The output layer(s) Torch-Pruning must leave whole (the last Linear/Conv of the model)."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    return layers[-1:]


def run_one(name: str, method: str, budget_s: float, resolution: int = 224) -> dict[str, Any]:
    """One model, one method (runs in its own process)."""
    torch.set_num_threads(1)
    deadline = time.process_time() + budget_s  # CPU seconds: the machine may be shared
    row: dict[str, Any] = {"model": name, "method": method, "budget_s": budget_s}
    model, inputs = build(name, resolution)
    if not isinstance(inputs, dict):
        row["input"] = "x".join(str(d) for d in inputs.shape[1:])
    row["params_before"] = sum(p.numel() for p in model.parameters())
    row["flops_before"] = _flops(model, inputs)
    start = time.perf_counter()
    if method.startswith("tomoprune"):
        from tomoprune import Compressor, Schedule
        from tomoprune.errors import UnresolvedGroupsWarning

        scorer = method.removeprefix("tomoprune-")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnresolvedGroupsWarning)
            compressor = Compressor(
                model, inputs, scorer=scorer, schedule=Schedule(fraction=FRACTION, min_width=1)
            )
            compressor.step()
        left = [str(w.message) for w in caught if issubclass(w.category, UnresolvedGroupsWarning)]
        if left:
            row["groups_left_whole"] = left[0]
        pruned = compressor.model
    else:
        import torch_pruning as tp

        pruned = _copy(model)
        with torch.enable_grad():
            pruner = tp.pruner.MetaPruner(
                pruned,
                inputs,
                importance=tp.importance.MagnitudeImportance(p=2),
                pruning_ratio=FRACTION,
                ignored_layers=_classifier(pruned),
            )
            pruner.step()
    row["prune_s"] = time.perf_counter() - start
    pruned.eval()
    with torch.no_grad():
        _call(pruned, inputs)
    row["params_after"] = sum(p.numel() for p in pruned.parameters())
    row["flops_after"] = _flops(pruned, inputs)
    row["status"] = "ok"
    if method.startswith("tomoprune"):
        row["reload_exact"] = _reload_exact(name, compressor, inputs, resolution)
    if not isinstance(inputs, dict):
        row["onnx"] = _onnx(pruned, inputs)
    row.update(_latency({"before": model, "after": pruned}, inputs, deadline))
    return row


def _copy(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model)


def _reload_exact(name: str, compressor: Any, inputs: Any, resolution: int) -> bool:
    from tomoprune.api import load_compressed

    with tempfile.TemporaryDirectory() as directory:
        compressor.save(directory)
        fresh, _ = build(name, resolution)
        reloaded = load_compressed(fresh, inputs, directory).eval()
    with torch.no_grad():
        a = _first_tensor(_call(reloaded, inputs))
        b = _first_tensor(_call(compressor.model, inputs))
    return bool(torch.equal(a, b))


def _onnx(model: nn.Module, inputs: torch.Tensor) -> str:
    from tomoprune.errors import TomopruneError
    from tomoprune.export.onnx import export_onnx, verify_onnx

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.onnx"
        try:
            export_onnx(model, inputs, path)
            check = verify_onnx(path, model, _batched(inputs, 2), batch_size=2)
        except TomopruneError as exc:
            return f"failed: {str(exc)[:160]}"
    verdict = "ok" if check.passed else "mismatch"
    return f"{verdict} (max |diff| {check.max_abs_diff:.1e})"


def _run_file(out: Path, name: str, method: str) -> Path:
    return out / "runs" / f"{name}__{method}.json"


def run_all(
    out: Path, names: list[str], methods: list[str], budget_s: float, resolution: int = 224
) -> None:
    for name in names:
        for method in methods:
            path = _run_file(out, name, method)
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, "-m", "benchmarks.zoo", "--one", name, method]
            command += ["--budget-s", str(budget_s), "--out", str(out)]
            command += ["--resolution", str(resolution)]
            start = time.monotonic()
            limit = budget_s * 1.25 + 30  # CPU seconds; the wall-clock limit is a backstop
            try:
                done = subprocess.run(
                    command,
                    capture_output=True,
                    text=True,
                    timeout=limit * 20,
                    preexec_fn=functools.partial(_limit_cpu, limit),
                )
                error = None if path.exists() else _last_line(done.stderr)
                if done.returncode == -signal.SIGXCPU:
                    error = (
                        f"timeout: over {limit:.0f} CPU s (building, tracing, pruning, checking)"
                    )
            except subprocess.TimeoutExpired:
                error = f"timeout: over {limit * 20:.0f} s of wall-clock time"
            if error is not None:
                row = {
                    "model": name,
                    "method": method,
                    "budget_s": budget_s,
                    "status": f"error: {error}",
                }
                atomic_write_json(path, row)
            print(f"{name:28s} {method:22s} {time.monotonic() - start:7.1f}s", flush=True)
    write_table(out)


def _limit_cpu(seconds: float) -> None:
    """In the child: SIGXCPU after ``seconds`` of CPU time, so that a loaded machine (which
    slows the wall clock, not the work) does not turn slow runs into timeouts."""
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (int(seconds), int(seconds) + 10))


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def write_table(out: Path) -> None:
    rows = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    atomic_write_json(out / "zoo.json", rows)
    inputs = sorted({r["input"] for r in rows if "input" in r})
    lines = [
        f"Inputs of the torchvision models (C x H x W): {', '.join(inputs) or 'not recorded'}; "
        "the Hugging Face models take 32 tokens (ViT: 3x224x224). Latency: one thread, batch 1 "
        "and 32 at these inputs, median of interleaved repeats in one process.",
        "",
        "| model | method | status | params before → after | MMACs (FLOPs / 2) before → after | "
        "latency b1 speed-up | latency b32 speed-up | prune s | reload exact | ONNX |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ok = r.get("status") == "ok"
        lines.append(
            "| "
            + " | ".join(
                [
                    r["model"],
                    r["method"],
                    "ok" if ok else r["status"].replace("|", "/")[:160],
                    f"{r['params_before'] / 1e6:.2f} M → {r['params_after'] / 1e6:.2f} M"
                    if ok
                    else "",
                    f"{r['flops_before'] / 2e6:.1f} → {r['flops_after'] / 2e6:.1f}" if ok else "",
                    _speedup(r, 1),
                    _speedup(r, 32) if "latency_b32" not in r else "skipped",
                    f"{r['prune_s']:.1f}" if ok else "",
                    str(r.get("reload_exact", "n/a")) if ok else "",
                    r.get("onnx", "n/a") if ok else "",
                ]
            )
            + " |"
        )
    lines += ["", summary(rows)]
    atomic_write_text(out / "zoo.md", "\n".join(lines) + "\n")


def _speedup(row: dict[str, Any], batch: int) -> str:
    ratio = _ratio(row, batch)
    return f"{ratio:.2f}x" if ratio is not None else ""


def _ratio(row: dict[str, Any], batch: int) -> float | None:
    """Latency before / after at ``batch``, or None where either was not measured."""
    before, after = row.get(f"latency_b{batch}_before_s"), row.get(f"latency_b{batch}_after_s")
    return before / after if before and after else None


def summary(rows: list[dict[str, Any]]) -> str:
    """Per method: runs ok, refused in one line, and over the budget, with the median latency
    speed-ups among the ok runs; then which models one tool prunes and the other does not, and
    which models have no run yet."""
    parts = []
    for method in METHODS:
        mine = [r for r in rows if r["method"] == method]
        ok = [r for r in mine if r.get("status") == "ok"]
        timeouts = [r for r in mine if str(r.get("status", "")).startswith("error: timeout")]
        medians = []
        for batch in (1, 32):
            speedups = [x for x in (_ratio(r, batch) for r in ok) if x is not None]
            if speedups:
                medians.append(
                    f"median batch-{batch} speed-up {statistics.median(speedups):.2f}x "
                    f"(over {len(speedups)})"
                )
        parts.append(
            f"- {method}: {len(ok)} of {len(mine)} models ok, "
            f"{len(mine) - len(ok) - len(timeouts)} refused with a one-line error, "
            f"{len(timeouts)} over the CPU budget" + ("; " + ", ".join(medians) if medians else "")
        )
    status = {(r["model"], r["method"]): r.get("status") == "ok" for r in rows}
    models = sorted({r["model"] for r in rows})

    def only(first: str, second: str) -> str:
        names = [
            m
            for m in models
            if status.get((m, first)) and (m, second) in status and not status[(m, second)]
        ]
        return ", ".join(names) if names else "none"

    both = [
        m
        for m in models
        if status.get((m, "tomoprune-magnitude")) and status.get((m, "tp-magnitude"))
    ]
    by_key = {(r["model"], r["method"]): r for r in rows}
    for batch in (1, 32):
        pairs = [
            (ours, theirs)
            for m in both
            if (ours := _ratio(by_key[m, "tomoprune-magnitude"], batch)) is not None
            and (theirs := _ratio(by_key[m, "tp-magnitude"], batch)) is not None
        ]
        if pairs:
            ours = statistics.median(a for a, _ in pairs)
            theirs = statistics.median(b for _, b in pairs)
            parts.append(
                f"- the {len(pairs)} models both tools prune (magnitude) with batch-{batch} "
                f"latencies: median speed-up {ours:.2f}x (tomoprune) and {theirs:.2f}x "
                "(Torch-Pruning)"
            )
    parts.append(
        "- models Torch-Pruning prunes and tomoprune (magnitude) does not: "
        + only("tp-magnitude", "tomoprune-magnitude")
    )
    parts.append(
        "- models tomoprune (magnitude) prunes and Torch-Pruning does not: "
        + only("tomoprune-magnitude", "tp-magnitude")
    )
    partial = sorted(f"{r['model']} ({r['method']})" for r in rows if r.get("groups_left_whole"))
    parts.append(
        "- tomoprune runs that left unit groups whole (their search ran past its bound): "
        + (", ".join(partial) if partial else "none")
    )
    try:
        expected = model_names()
    except ImportError:  # torchvision absent: the list of models cannot be known
        expected = models
    missing = [
        f"{m} ({', '.join(x for x in METHODS if (m, x) not in status)})"
        for m in expected
        if any((m, x) not in status for x in METHODS)
    ]
    parts.append(
        f"- models in the zoo: {len(expected)}; runs not made yet: "
        + ("; ".join(missing) if missing else "none")
    )
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/zoo"))
    parser.add_argument("--models", default="all")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--budget-s", type=float, default=240.0)
    parser.add_argument(
        "--resolution",
        type=int,
        default=224,
        help="input side of the torchvision models (224 = full size; smaller covers the zoo "
        "sooner, Inception at least 96, ViTs rounded to their patch)",
    )
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "METHOD"))
    parser.add_argument("--table", action="store_true", help="only rebuild zoo.json and zoo.md")
    args = parser.parse_args()
    if args.table:
        write_table(args.out)
        return 0
    if args.one:
        name, method = args.one
        try:
            row = run_one(name, method, args.budget_s, args.resolution)
        except Exception as exc:  # recorded as the run's one-line result
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            row = {
                "model": name,
                "method": method,
                "budget_s": args.budget_s,
                "status": f"error: {type(exc).__name__}: {message[:240]}",
            }
        path = _run_file(args.out, name, method)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, row)
        return 0
    names = model_names() if args.models == "all" else args.models.split(",")
    run_all(args.out, names, args.methods.split(","), args.budget_s, args.resolution)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
