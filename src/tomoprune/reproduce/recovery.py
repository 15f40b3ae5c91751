"""Recovery on a real task: a torchvision ResNet-18 or MobileNetV2, trained on Fashion-MNIST,
pruned to half its FLOPs by tomoprune's ``Compressor`` and by Torch-Pruning, then fine-tuned.

The question a user asks before pruning their own model is not "does it run" but "what does it
cost and what does it buy": accuracy lost at pruning, accuracy won back by fine-tuning, and the
FLOPs, parameters and latency saved. Both tools get the same trained network, the same FLOPs
target (the smallest per-layer fraction whose pruned model has at most ``flops_target`` of the
dense FLOPs, found by bisection for each tool), the same fine-tuning (optimizer, learning rate,
epochs, batch order) and the same evaluation.

Stages, each written atomically under the output folder and skipped when already there, so an
interrupted run keeps what it finished: ``dense`` (train, ``dense.json`` + ``dense.pt``),
``tomoprune`` and ``torch-pruning`` (search, prune, fine-tune; ``<tool>.json`` + the pruned
model), ``latency`` (the three models side by side in one process, ``latency.json``) and the
table (``results.json``, ``recovery.md``).

The models are torchvision's own builders with a 1-channel first convolution and 10 outputs
(``adapted_model``); everything else, strides included, is as torchvision builds it.
"""

from __future__ import annotations

import copy
import io
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tomoprune.accounting import count_flops, fixed_threads
from tomoprune.data.datasets import Dataset, load_dataset
from tomoprune.errors import ConfigError, DataError
from tomoprune.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from tomoprune.records.provenance import provenance

MODELS = ("resnet18", "mobilenet_v2")
TOOLS = ("tomoprune", "torch-pruning")
SCORERS = ("magnitude", "dtc", "random")


@dataclass(frozen=True, kw_only=True)
class RecoveryConfig:
    """Settings of one recovery run (one model, one seed, both tools)."""

    model: str = "resnet18"
    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    # training images used per epoch (the first N of a seeded permutation); 0 = all 60,000
    train_subset: int = 15000
    # test images used for every accuracy; 0 = all 10,000
    test_subset: int = 0
    train_epochs: int = 3
    finetune_epochs: int = 2
    batch_size: int = 128
    lr: float = 1e-3
    finetune_lr: float = 5e-4
    flops_target: float = 0.5
    scorer: str = "magnitude"
    search_steps: int = 10
    latency_repeats: int = 7
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"model must be one of {', '.join(MODELS)}. Got {self.model!r}.")
        if self.scorer not in SCORERS:
            raise ConfigError(f"scorer must be one of {', '.join(SCORERS)}. Got {self.scorer!r}.")
        if not 0.0 < self.flops_target < 1.0:
            raise ConfigError(
                f"flops_target must lie strictly between 0 and 1. Got {self.flops_target}."
            )
        for name in ("train_subset", "test_subset"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 (all) or positive. Got {getattr(self, name)}.")
        for name in ("train_epochs", "batch_size", "search_steps", "latency_repeats"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1. Got {getattr(self, name)}.")
        if self.finetune_epochs < 0:
            raise ConfigError(f"finetune_epochs must be 0 or more. Got {self.finetune_epochs}.")
        for name in ("lr", "finetune_lr"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive. Got {getattr(self, name)}.")


def adapted_model(name: str, num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """torchvision's ``name`` (random weights) with an ``in_channels`` first convolution."""
    try:
        import torchvision
    except ImportError:
        raise ConfigError(
            "the recovery experiment needs torchvision: pip install 'tomoprune[vision]'."
        ) from None
    model = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    if name == "resnet18":
        old = model.conv1
        model.conv1 = nn.Conv2d(
            in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False
        )
    else:
        old = model.features[0][0]
        model.features[0][0] = nn.Conv2d(
            in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False
        )
    return model


def classifier(model: nn.Module) -> nn.Module:
    """The output layer (its units are the classes: no tool may remove them)."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


def load_data(config: RecoveryConfig) -> Dataset:
    data = load_dataset(config.dataset, config.data_dir)
    if len(data.input_shape) != 3 or data.kind != "classification":
        raise DataError(
            f"{config.dataset}: the recovery experiment needs an image classification set."
        )
    return data.as_images()


def _subset(x: torch.Tensor, y: torch.Tensor, size: int, seed: int):
    if size == 0 or size >= len(y):
        return x, y
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:size]
    return x[order], y[order]


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> list[float]:
    """Adam with a cosine learning rate over ``epochs``; batch order from ``seed``. Returns the
    mean training loss of each epoch."""
    if epochs == 0:
        return []
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * math.ceil(len(y) / batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        total = 0.0
        for start in range(0, len(y), batch_size):
            index = order[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(index)
        losses.append(total / len(y))
    model.eval()
    return losses


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(y), batch_size):
        correct += int(
            (model(x[start : start + batch_size]).argmax(1) == y[start : start + batch_size]).sum()
        )
    return correct / len(y)


def flops(model: nn.Module, example: torch.Tensor) -> int:
    return count_flops(model, example)[0]


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def prune_tomoprune(
    dense: nn.Module, example: torch.Tensor, fraction: float, scorer: str, seed: int
):
    """One ``Compressor`` step removing ``fraction`` of every unit group's units."""
    from tomoprune.api import Compressor, Schedule

    compressor = Compressor(
        copy.deepcopy(dense),
        example,
        scorer=scorer,
        schedule=Schedule(fraction=fraction, min_width=1),
        seed=seed,
    )
    compressor.step()
    return compressor


def prune_torch_pruning(dense: nn.Module, example: torch.Tensor, fraction: float) -> nn.Module:
    """Torch-Pruning's ``MetaPruner`` with L2 magnitude importance, ``fraction`` of every layer's
    channels, the classifier kept whole."""
    import torch_pruning as tp

    model = copy.deepcopy(dense)
    with torch.enable_grad():
        pruner = tp.pruner.MetaPruner(
            model,
            example,
            importance=tp.importance.MagnitudeImportance(p=2),
            pruning_ratio=fraction,
            ignored_layers=[classifier(model)],
        )
        pruner.step()
    return model.eval()


def search_fraction(
    prune: Callable[[float], nn.Module], example: torch.Tensor, target_flops: float, steps: int
) -> tuple[float, nn.Module]:
    """The smallest per-layer fraction (to 0.95 / 2**steps) whose pruned model has at most
    ``target_flops``, by bisection; FLOPs fall as the fraction grows."""
    low, high = 0.0, 0.95
    best = prune(high)
    if flops(best, example) > target_flops:
        raise ConfigError(
            f"flops_target unreachable: removing 95 % of every layer leaves "
            f"{flops(best, example)} FLOPs, more than {target_flops:.0f}."
        )
    for _ in range(steps):
        middle = (low + high) / 2
        candidate = prune(middle)
        if flops(candidate, example) <= target_flops:
            high, best = middle, candidate
        else:
            low = middle
    return high, best


def _model_bytes(model: nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save(model, buffer)
    return buffer.getvalue()


def _stage_dense(config: RecoveryConfig, data: Dataset, out: Path, say) -> dict[str, Any]:
    torch.manual_seed(config.seed)
    model = adapted_model(config.model, data.num_classes, data.input_shape[0])
    x, y = _subset(data.train_x, data.train_y, config.train_subset, config.seed)
    start = time.perf_counter()
    losses = train(
        model,
        x,
        y,
        epochs=config.train_epochs,
        lr=config.lr,
        batch_size=config.batch_size,
        seed=config.seed,
    )
    test_x, test_y = _subset(data.test_x, data.test_y, config.test_subset, config.seed)
    example = data.test_x[:1]
    row = {
        "train_loss": losses,
        "train_s": time.perf_counter() - start,
        "accuracy": accuracy(model, test_x, test_y),
        "flops": flops(model, example),
        "parameters": parameters(model),
    }
    atomic_write_bytes(out / "dense.pt", _model_bytes(model))
    atomic_write_json(out / "dense.json", row)
    say(f"dense: accuracy {row['accuracy']:.4f}, {row['flops'] / 1e6:.1f} MFLOPs")
    return row


def _load_model(path: Path) -> nn.Module:
    return torch.load(path, weights_only=False).eval()


def _stage_tool(config: RecoveryConfig, data: Dataset, out: Path, tool: str, say) -> dict[str, Any]:
    dense = _load_model(out / "dense.pt")
    example = data.test_x[:1]
    target = config.flops_target * flops(dense, example)
    start = time.perf_counter()
    if tool == "tomoprune":
        fraction, compressor = search_fraction(
            lambda f: prune_tomoprune(dense, example, f, config.scorer, config.seed).model,
            example,
            target,
            config.search_steps,
        )
        # the final model again through the API, so that its removal record can be saved
        compressor = prune_tomoprune(dense, example, fraction, config.scorer, config.seed)
        model = compressor.model
    else:
        fraction, model = search_fraction(
            lambda f: prune_torch_pruning(dense, example, f), example, target, config.search_steps
        )
    search_s = time.perf_counter() - start
    test_x, test_y = _subset(data.test_x, data.test_y, config.test_subset, config.seed)
    pruned_accuracy = accuracy(model, test_x, test_y)
    x, y = _subset(data.train_x, data.train_y, config.train_subset, config.seed)
    start = time.perf_counter()
    losses = train(
        model,
        x,
        y,
        epochs=config.finetune_epochs,
        lr=config.finetune_lr,
        batch_size=config.batch_size,
        seed=config.seed + 1,
    )
    row = {
        "tool": tool,
        "method": f"Compressor, scorer={config.scorer}"
        if tool == "tomoprune"
        else "MetaPruner + MagnitudeImportance(p=2)",
        "fraction": fraction,
        "search_s": search_s,
        "accuracy_pruned": pruned_accuracy,
        "finetune_loss": losses,
        "finetune_s": time.perf_counter() - start,
        "accuracy_finetuned": accuracy(model, test_x, test_y),
        "flops": flops(model, example),
        "parameters": parameters(model),
    }
    if tool == "tomoprune":
        compressor.save(out / "tomoprune-model")
    atomic_write_bytes(out / f"{tool}.pt", _model_bytes(model))
    atomic_write_json(out / f"{tool}.json", row)
    say(
        f"{tool}: fraction {fraction:.3f}, accuracy {pruned_accuracy:.4f} pruned, "
        f"{row['accuracy_finetuned']:.4f} fine-tuned, {row['flops'] / 1e6:.1f} MFLOPs"
    )
    return row


def side_by_side_latency(
    models: dict[str, nn.Module], example: torch.Tensor, batches=(1, 32), repeats: int = 7
) -> dict[str, float]:
    """Median seconds per forward of each model, repeats interleaved model by model (so that a
    change of machine load hits all of them alike), one thread, after a warm-up call."""
    out: dict[str, float] = {}
    with torch.inference_mode(), fixed_threads(1):
        for batch in batches:
            x = example.expand(batch, *example.shape[1:]).contiguous()
            times: dict[str, list[float]] = {key: [] for key in models}
            for model in models.values():
                model.eval()(x)
            for _ in range(repeats):
                for key, model in models.items():
                    start = time.perf_counter()
                    model(x)
                    times[key].append(time.perf_counter() - start)
            for key, samples in times.items():
                out[f"{key}_b{batch}_s"] = statistics.median(samples)
    return out


STAGES = ("dense", *TOOLS, "latency")


def run_recovery(
    config: RecoveryConfig,
    out: Path,
    say: Callable[[str], None] = lambda _: None,
    stages: tuple[str, ...] = STAGES,
) -> dict[str, Any] | None:
    """Run the missing ``stages`` of ``config`` in ``out``; once all are there, write
    ``results.json`` and ``recovery.md`` and return the results (else None).

    The two tool stages only read ``dense.pt``, so separate processes may run them side by side
    (``stages=("tomoprune",)`` and ``("torch-pruning",)``) once the dense stage is done.
    """
    unknown = [stage for stage in stages if stage not in STAGES]
    if unknown:
        raise ConfigError(f"stage must be among {', '.join(STAGES)}. Got {', '.join(unknown)}.")
    out.mkdir(parents=True, exist_ok=True)
    settings = out / "config.json"
    if settings.exists() and read_json(settings) != asdict(config):
        raise ConfigError(
            f"{out} holds a run with other settings ({settings}); use a new --out folder."
        )
    atomic_write_json(settings, asdict(config))
    done = {stage: (out / f"{stage}.json").exists() for stage in STAGES}
    needed = [stage for stage in stages if not done[stage]]
    if needed and needed[0] != "dense" and not done["dense"]:
        raise ConfigError(f"{out}: the dense stage is not done yet; run it first (--stage dense).")
    data = load_data(config) if needed else None
    if "dense" in needed:
        _stage_dense(config, data, out, say)
    for tool in TOOLS:
        if tool in needed:
            _stage_tool(config, data, out, tool, say)
    if "latency" in needed and all((out / f"{tool}.json").exists() for tool in TOOLS):
        models = {"dense": _load_model(out / "dense.pt")}
        models.update({tool: _load_model(out / f"{tool}.pt") for tool in TOOLS})
        latency = side_by_side_latency(models, data.test_x[:1], repeats=config.latency_repeats)
        atomic_write_json(out / "latency.json", latency)
    if not all((out / f"{stage}.json").exists() for stage in STAGES):
        return None
    results = {
        "config": asdict(config),
        "dense": read_json(out / "dense.json"),
        "tools": {tool: read_json(out / f"{tool}.json") for tool in TOOLS},
        "latency": read_json(out / "latency.json"),
        "provenance": provenance(),
    }
    atomic_write_json(out / "results.json", results)
    atomic_write_text(out / "recovery.md", render_markdown(results))
    return results


def render_markdown(results: dict[str, Any]) -> str:
    """The run as one Markdown table: the dense model, then each tool."""
    config, dense, latency = results["config"], results["dense"], results["latency"]
    lines = [
        f"**{config['model']}** on {config['dataset']}, seed {config['seed']}: "
        f"{config['train_epochs']} epochs of training, {config['finetune_epochs']} of fine-tuning "
        f"(train subset {config['train_subset'] or 'all'}), FLOPs target "
        f"{config['flops_target']:.0%}",
        "",
        "| model | fraction per layer | accuracy after pruning | after fine-tuning | MFLOPs | "
        "params | latency b1 (ms) | b32 (ms) | speed-up b1 | b32 |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| dense | 0 | {dense['accuracy']:.4f} | | {dense['flops'] / 1e6:.1f} | "
        f"{dense['parameters'] / 1e6:.2f} M | {latency['dense_b1_s'] * 1e3:.2f} | "
        f"{latency['dense_b32_s'] * 1e3:.1f} | 1.00x | 1.00x |",
    ]
    for tool, row in results["tools"].items():
        lines.append(
            f"| {tool} ({row['method']}) | {row['fraction']:.3f} | {row['accuracy_pruned']:.4f} | "
            f"{row['accuracy_finetuned']:.4f} | {row['flops'] / 1e6:.1f} | "
            f"{row['parameters'] / 1e6:.2f} M | {latency[f'{tool}_b1_s'] * 1e3:.2f} | "
            f"{latency[f'{tool}_b32_s'] * 1e3:.1f} | "
            f"{latency['dense_b1_s'] / latency[f'{tool}_b1_s']:.2f}x | "
            f"{latency['dense_b32_s'] / latency[f'{tool}_b32_s']:.2f}x |"
        )
    return "\n".join(lines) + "\n"
