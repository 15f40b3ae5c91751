"""What a model costs: parameters, FLOPs per forward, and measured CPU inference latency.

Each quantity comes as a total and broken down per module, keyed by the names of
``model.named_modules()`` (``"1"``, ``"stages.0.0.conv1"``, ...), so a caller can sum the
modules of any set of units (a layer, a pruning group) itself.

- **Parameters**: ``numel`` of every parameter (all entries, zero or not) and the non-zero count.
- **FLOPs**: PyTorch's own counter (``torch.utils.flop_counter.FlopCounterMode``) on one forward
  of an example batch; a matrix product ``(m x k) @ (k x n)`` counts ``2 m n k`` (a multiply and
  an add), a convolution ``2 x output elements x (in channels / groups) x kernel size``. Biases,
  activations, pooling and normalisation are not counted (the counter has no formula for them);
  they are a small share of a network dominated by its matrix products. Zeros inside dense
  tensors still count: FLOPs fall when units are removed physically, not when weights are masked.
- **Latency**: wall-clock seconds of one forward at batch 1 and at batch 256 under
  ``torch.inference_mode`` in eval mode, after warm-up calls, as the median of repeats, with
  PyTorch's thread count fixed for the measurement and recorded. The per-module breakdown comes
  from a second, separate pass with forward hooks on the leaf modules (hooks add their own small
  cost, so the module times need not add up to the total exactly).

Latency is slow to measure and depends on the machine and its load; the run records therefore
measure it at the start and the end of a run only, and FLOPs (exact and cheap) every cycle.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

LATENCY_BATCHES = (1, 256)


@dataclass(frozen=True)
class Accounting:
    """Totals and per-module breakdowns of one model (plain numbers, JSON-ready)."""

    parameters: int
    nonzero_parameters: int
    flops: int  # per forward of one sample
    parameters_per_module: dict[str, int] = field(default_factory=dict)
    flops_per_module: dict[str, int] = field(default_factory=dict)
    # batch size (as text, for JSON) -> median seconds of one forward
    latency_s: dict[str, float] = field(default_factory=dict)
    latency_per_module_s: dict[str, dict[str, float]] = field(default_factory=dict)
    latency_settings: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def leaf_modules(model: nn.Module) -> dict[str, nn.Module]:
    """``{name: module}`` of the modules without children (the root too, if it has none)."""
    return {name: m for name, m in model.named_modules() if not any(True for _ in m.children())}


def count_parameters(model: nn.Module) -> tuple[int, int, dict[str, int]]:
    """(all entries, non-zero entries, entries per module that owns parameters directly)."""
    total = sum(p.numel() for p in model.parameters())
    nonzero = sum(int(torch.count_nonzero(p.detach())) for p in model.parameters())
    per_module = {}
    for name, module in model.named_modules():
        own = sum(p.numel() for p in module.parameters(recurse=False))
        if own:
            per_module[name] = own
    return total, nonzero, per_module


def example_batch(model: nn.Module, input_shape: Sequence[int], batch: int = 1) -> torch.Tensor:
    """A zero batch of ``(batch, *input_shape)`` on the model's device and dtype."""
    reference = next(model.parameters(), None)
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = reference.dtype if reference is not None else torch.float32
    return torch.zeros((batch, *input_shape), device=device, dtype=dtype)


@contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def count_flops(model: nn.Module, example: torch.Tensor) -> tuple[int, dict[str, int]]:
    """FLOPs of ``model(example)``: the total and the share of every leaf module that has any.

    ``example`` is one batch; divide by its size for per-sample FLOPs (``flops_per_sample``).
    """
    counter = FlopCounterMode(display=False)
    with _evaluating(model), counter:
        model(example)
    root = type(model).__name__
    leaves = set(leaf_modules(model))
    per_module: dict[str, int] = {}
    for key, ops in counter.get_flop_counts().items():
        name = "" if key == root else key.removeprefix(root + ".")
        if name in leaves and key != "Global":
            flops = int(sum(ops.values()))
            if flops:
                per_module[name] = flops
    return int(counter.get_total_flops()), per_module


def flops_per_sample(model: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs of one forward of one sample of ``input_shape`` (cheap: a single forward)."""
    return count_flops(model, example_batch(model, input_shape, 1))[0]


@contextmanager
def fixed_threads(threads: int | None) -> Iterator[int]:
    """Run the block with PyTorch's intra-op threads set to ``threads`` (None: as they are)."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_latency(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    batch_sizes: Sequence[int] = LATENCY_BATCHES,
    repeats: int = 20,
    warmup: int = 3,
    threads: int | None = None,
    per_module: bool = True,
) -> tuple[dict[str, float], dict[str, dict[str, float]], dict[str, Any]]:
    """Median forward seconds per batch size, per leaf module, and the settings used.

    Returns ``({"1": s, "256": s}, {"1": {module: s}, ...}, settings)``. Inputs are zeros (a
    dense network's time does not depend on the values).
    """
    if repeats < 1 or warmup < 0:
        raise ValueError("repeats must be at least 1 and warmup non-negative")
    reference = next(model.parameters(), None)
    device = reference.device if reference is not None else torch.device("cpu")
    totals: dict[str, float] = {}
    modules: dict[str, dict[str, float]] = {}
    with fixed_threads(threads) as used, _evaluating(model):
        for batch in batch_sizes:
            x = example_batch(model, input_shape, batch)
            for _ in range(warmup):
                model(x)
            samples = []
            for _ in range(repeats):
                _synchronise(device)
                start = time.perf_counter()
                model(x)
                _synchronise(device)
                samples.append(time.perf_counter() - start)
            totals[str(batch)] = statistics.median(samples)
            if per_module:
                modules[str(batch)] = _module_latency(model, x, repeats, device)
    settings = {
        "batch_sizes": list(batch_sizes),
        "repeats": repeats,
        "warmup": warmup,
        "torch_threads": used,
        "device": str(device),
        "statistic": "median",
    }
    return totals, modules, settings


def latency_columns(
    model: nn.Module, example_inputs: Any, *, input_shape: Sequence[int], repeats: int = 5
) -> dict[str, float]:
    """The per-cycle latency columns of ``cycles.csv``: median seconds of one forward at each
    batch size of ``LATENCY_BATCHES`` (a cheaper measurement than ``account``'s)."""
    del example_inputs  # the batches are built from ``input_shape``
    totals, _, _ = measure_latency(model, input_shape, repeats=repeats, warmup=1, per_module=False)
    return {f"latency_b{batch}_s": seconds for batch, seconds in totals.items()}


def _module_latency(
    model: nn.Module, x: torch.Tensor, repeats: int, device: torch.device
) -> dict[str, float]:
    """Median seconds spent inside each leaf module (forward hooks around every leaf)."""
    started: dict[str, float] = {}
    samples: dict[str, list[float]] = {}
    handles = []

    def before(name: str):
        def hook(module, args):
            _synchronise(device)
            started[name] = time.perf_counter()

        return hook

    def after(name: str):
        def hook(module, args, output):
            _synchronise(device)
            samples.setdefault(name, []).append(time.perf_counter() - started[name])

        return hook

    for name, module in leaf_modules(model).items():
        handles.append(module.register_forward_pre_hook(before(name)))
        handles.append(module.register_forward_hook(after(name)))
    try:
        model(x)  # warm the hooked path
        samples.clear()
        for _ in range(repeats):
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return {name: statistics.median(values) for name, values in samples.items()}


def account(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    latency: bool = True,
    repeats: int = 20,
    warmup: int = 3,
    threads: int | None = None,
    batch_sizes: Sequence[int] = LATENCY_BATCHES,
) -> Accounting:
    """Parameters, FLOPs per sample and (with ``latency``) measured latency of ``model``."""
    total, nonzero, per_module = count_parameters(model)
    flops, flops_modules = count_flops(model, example_batch(model, input_shape, 1))
    latency_s: dict[str, float] = {}
    latency_modules: dict[str, dict[str, float]] = {}
    settings: dict[str, Any] = {}
    if latency:
        latency_s, latency_modules, settings = measure_latency(
            model,
            input_shape,
            batch_sizes=batch_sizes,
            repeats=repeats,
            warmup=warmup,
            threads=threads,
        )
    return Accounting(
        parameters=total,
        nonzero_parameters=nonzero,
        flops=flops,
        parameters_per_module=per_module,
        flops_per_module=flops_modules,
        latency_s=latency_s,
        latency_per_module_s=latency_modules,
        latency_settings=settings,
    )


def summary_columns(before: Accounting, after: Accounting) -> dict[str, Any]:
    """Flat before/after totals for a run's summary (and the CLI's end table)."""
    out: dict[str, Any] = {
        "parameters_before": before.parameters,
        "parameters_after": after.parameters,
        "nonzero_parameters_after": after.nonzero_parameters,
        "flops_before": before.flops,
        "flops_after": after.flops,
    }
    for batch in sorted(set(before.latency_s) | set(after.latency_s), key=int):
        out[f"latency_b{batch}_before_s"] = before.latency_s.get(batch)
        out[f"latency_b{batch}_after_s"] = after.latency_s.get(batch)
    return out
