"""``compress_``: post-training compression of any ``nn.Module``, layers chosen by name pattern.

The layers are compressed in the order the forward pass reaches them. Sequentially (default),
each layer's calibration statistics are taken on the outputs of the layers already compressed
before it, as SparseGPT and GPTQ process a network: for every step one pass over the calibration
batches (stopped as soon as the step's layers have received their input) accumulates the
Hessian batch by batch through forward pre-hooks. Layers that receive the very same input
tensor (a transformer's q, k and v projections) are one step. With ``sequential=False`` all
layers are calibrated on the dense model in one pass (the setting of the greedy compressor's
theory, where every layer sees the uncompressed network's inputs).
"""

from __future__ import annotations

import contextlib
import fnmatch
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from tomoprune.errors import ConfigError
from tomoprune.posttraining.base import (
    POSTTRAINING,
    Compressor,
    LayerContext,
    LayerProblem,
)
from tomoprune.posttraining.grid import QuantState
from tomoprune.posttraining.layers import (
    LAYER_KINDS,
    check_layer,
    input_columns,
    is_compressible,
    set_weight_matrix,
    weight_matrix,
)
from tomoprune.posttraining.statistics import HessianAccumulator

__all__ = ["PostTrainingReport", "compress_", "select_layers"]


@dataclass
class PostTrainingReport:
    """What ``compress_`` did: one record per layer, and the quantization states by name."""

    compressor: str
    settings: dict[str, Any]
    sequential: bool
    layers: list[dict[str, Any]] = field(default_factory=list)
    quant: dict[str, QuantState] = field(default_factory=dict)


class _StopForward(Exception):
    """Raised by a hook once every layer of the current step has its input."""


def select_layers(model: nn.Module, patterns: Sequence[str] | str | None) -> dict[str, nn.Module]:
    """The compressible layers whose qualified names match one of ``patterns`` (fnmatch).

    ``None`` selects every compressible layer whose weight is not shared with another module
    (a language model's output layer tied to its embedding is left alone). A pattern that
    matches no compressible layer is an error naming the layers there are.
    """
    layers = {name: m for name, m in model.named_modules() if name and is_compressible(m)}
    if patterns is None:
        owners: dict[int, int] = {}
        for module in model.modules():
            for p in module.parameters(recurse=False):
                owners[id(p)] = owners.get(id(p), 0) + 1
        chosen = {n: m for n, m in layers.items() if owners.get(id(m.weight), 0) == 1}
    else:
        if isinstance(patterns, str):
            patterns = [patterns]
        chosen = {}
        for pattern in patterns:
            hits = {n: m for n, m in layers.items() if fnmatch.fnmatchcase(n, pattern)}
            if not hits:
                sample = ", ".join(list(layers)[:6]) + (", ..." if len(layers) > 6 else "")
                raise ConfigError(
                    f"The layer pattern {pattern!r} matches no {LAYER_KINDS} layer of "
                    f"{type(model).__name__}; its layers are named like: {sample or '(none)'}."
                )
            chosen.update(hits)
    if not chosen:
        raise ConfigError(f"{type(model).__name__} has no {LAYER_KINDS} layer to compress.")
    for name, module in chosen.items():
        check_layer(name, module)
    return chosen


def _batches(calibration: Any) -> list[Any]:
    if calibration is None:
        return []
    if isinstance(calibration, (torch.Tensor, Mapping)):
        return [calibration]
    if isinstance(calibration, Iterable):
        return list(calibration)
    raise ConfigError(
        "The calibration data must be a tensor, a dict of tensors, or an iterable of them "
        f"(a DataLoader). Got {type(calibration).__name__} instead."
    )


def _forward(model: nn.Module, batch: Any, device: torch.device | None) -> None:
    def move(t: Any) -> Any:
        return t.to(device) if device is not None and isinstance(t, torch.Tensor) else t

    if isinstance(batch, Mapping):
        model(**{k: move(v) for k, v in batch.items()})
    elif isinstance(batch, (tuple, list)):
        model(move(batch[0]))  # (inputs, targets) pairs: the inputs
    else:
        model(move(batch))


def _first_input(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    if args:
        return args[0]
    return next(v for v in kwargs.values() if isinstance(v, torch.Tensor))


@torch.no_grad()
def _forward_order(
    model: nn.Module, layers: dict[str, nn.Module], batch: Any, device: torch.device | None
) -> list[list[str]]:
    """Steps of layers in first-call order; layers fed the same input tensor share a step."""
    seen: list[tuple[str, torch.Tensor]] = []
    handles = []
    for name, module in layers.items():

        def hook(mod, args, kwargs, name=name):
            if all(n != name for n, _ in seen):
                seen.append((name, _first_input(args, kwargs)))

        handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
    try:
        _forward(model, batch, device)
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in layers if all(n != s for s, _ in seen)]
    if missing:
        raise ConfigError(
            f"layer {missing[0]} is not reached by the model's forward pass on the calibration "
            "data; leave it out of the layer patterns."
        )
    steps: list[list[str]] = []
    inputs: list[torch.Tensor] = []
    for name, x in seen:
        if steps and x is inputs[-1]:
            steps[-1].append(name)
        else:
            steps.append([name])
            inputs.append(x)
    return steps


@torch.no_grad()
def _accumulate(
    model: nn.Module,
    layers: dict[str, nn.Module],
    names: list[str],
    batches: list[Any],
    device: torch.device | None,
    stop_early: bool,
) -> dict[str, HessianAccumulator]:
    """Hessians of ``names`` over all batches, one pass each, stopped once they are fed."""
    stats: dict[str, HessianAccumulator] = {}
    fed: set[str] = set()
    handles = []
    for name in names:
        module = layers[name]
        columns = weight_matrix(module).shape[1]
        stats[name] = HessianAccumulator(columns, module.weight.device)

        def hook(mod, args, kwargs, name=name):
            stats[name].add(input_columns(mod, _first_input(args, kwargs)))
            fed.add(name)
            if stop_early and len(fed) == len(names):
                raise _StopForward

        handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
    try:
        for batch in batches:
            fed.clear()
            with contextlib.suppress(_StopForward):
                _forward(model, batch, device)
    finally:
        for h in handles:
            h.remove()
    return stats


def _relative_error(old: torch.Tensor, new: torch.Tensor, hessian: torch.Tensor | None) -> float:
    """||(W - W_hat) X||^2 / ||W X||^2 on the calibration inputs (from H), or on weights."""
    delta = (old - new).to(torch.float64)
    w = old.to(torch.float64)
    if hessian is None:
        return float(delta.pow(2).sum() / w.pow(2).sum().clamp_min(1e-300))
    num = ((delta @ hessian) * delta).sum()
    den = ((w @ hessian) * w).sum()
    return float(num / den) if den > 0 else 0.0


@torch.no_grad()
def compress_(
    model: nn.Module,
    settings: Compressor | str,
    *,
    calibration: Any = None,
    layers: Sequence[str] | str | None = None,
    sequential: bool = True,
    device: torch.device | str | None = None,
) -> PostTrainingReport:
    """Compress the selected layers of ``model`` in place with ``settings``; return a report.

    Parameters
    ----------
    model : any ``nn.Module``; its compressible layers are Linear, Conv1d, Conv2d and GPT-2's
        Conv1D.
    settings : a compressor's settings (``GPTQ(bits=4, group_size=128)``) or its registered name.
    calibration : a tensor (one batch), a dict (keyword inputs, e.g. ``input_ids``), or an
        iterable of those or of (inputs, targets) pairs. RTN and magnitude read none (their
        ``relative_error`` is then measured on the weights, not on calibration outputs).
    layers : fnmatch patterns over qualified module names (``"*.mlp.*"``); None: every layer
        whose weight is not tied to another module.
    sequential : calibrate each layer on its compressed predecessors' outputs (default) or
        every layer on the dense model's.
    device : where calibration batches are sent (the model must already be there).
    """
    if isinstance(settings, str):
        settings = POSTTRAINING.create(settings)
    if not isinstance(settings, Compressor):
        raise ConfigError(
            f"compress_ needs a post-training compressor's settings ({', '.join(POSTTRAINING)}). "
            f"Got {settings!r} instead."
        )
    chosen = select_layers(model, layers)
    for name, module in chosen.items():  # every layer checked before any is changed
        settings.check_layer(
            LayerProblem(name=name, weight=weight_matrix(module), hessian=None, samples=0)
        )
    # compressors that read no statistics (RTN, magnitude) run without forward passes
    batches = _batches(calibration) if settings.needs_calibration else []
    if settings.needs_calibration and not batches:
        raise ConfigError(f"{type(settings).__name__} needs calibration data; pass calibration=.")
    target = torch.device(device) if device is not None else None
    was_training = model.training
    model.eval()
    report = PostTrainingReport(
        compressor=settings.name, settings=settings.settings(), sequential=sequential
    )
    context = LayerContext(rng=np.random.default_rng(getattr(settings, "seed", 0)))
    try:
        if batches:
            steps = _forward_order(model, chosen, batches[0], target)
        else:
            steps = [[name] for name in chosen]
        if batches and not sequential:
            stats = _accumulate(model, chosen, list(chosen), batches, target, stop_early=False)
        for step in steps:
            if batches and sequential:
                stats = _accumulate(model, chosen, step, batches, target, stop_early=True)
            for name in step:
                started = time.perf_counter()
                module = chosen[name]
                acc = stats.get(name) if batches else None
                problem = LayerProblem(
                    name=name,
                    weight=weight_matrix(module),
                    hessian=acc.hessian if acc is not None else None,
                    samples=acc.samples if acc is not None else 0,
                )
                result = settings.compress_layer(problem, context)
                new = result.weight
                if result.quant is not None:
                    new = result.quant.dequantize().to(problem.weight.dtype)
                    report.quant[name] = result.quant
                set_weight_matrix(module, new)
                report.layers.append(
                    {
                        "layer": name,
                        "type": type(module).__name__,
                        "rows": problem.weight.shape[0],
                        "columns": problem.weight.shape[1],
                        "samples": problem.samples,
                        "density": float((new != 0).double().mean()),
                        "bits": settings.quant_bits,
                        "relative_error": _relative_error(problem.weight, new, problem.hessian),
                        "seconds": time.perf_counter() - started,
                        **result.info,
                    }
                )
                if not sequential:
                    stats.pop(name, None)
    finally:
        model.train(was_training)
    return report
