"""The baselines at the same sparsity or bit width, on the same layers, first to last.

``magnitude`` (global or per layer), ``wanda`` and SparseGPT (``obs`` in prune mode) zero
``1 - density`` of each selected layer; ``rtn`` and GPTQ (``obs`` in quant mode) put every
weight of each selected layer on the grid. With ``structured`` the pruning baselines remove
whole units instead (``structured_baselines``: magnitude, wanda, and ``obs`` as a least-squares
refit of the next layer). Calibration inputs of a layer come from the
already-compressed layers before it, as SparseGPT and GPTQ process a network.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from tomoprune.errors import ConfigError
from tomoprune.methods.greedy import magnitude, obs, rtn, wanda
from tomoprune.methods.greedy.algorithm import grids_for, remove_dead_units
from tomoprune.methods.greedy.grid import UniformGrid
from tomoprune.methods.greedy.layers import check_supported, layer_input, position_of
from tomoprune.methods.greedy.params import BaselineParams, validate_baseline
from tomoprune.methods.greedy.structured_baselines import (
    STRUCTURED_BASELINES,
    structured_baseline,
)

BASELINES = ("magnitude", "wanda", "rtn", "obs")
PRUNING_ONLY = ("magnitude", "wanda")
QUANT_ONLY = ("rtn",)


@dataclass
class BaselineResult:
    model: nn.Sequential
    layers: list[dict[str, Any]] = field(default_factory=list)
    grids: dict[int, UniformGrid] = field(default_factory=dict)


@torch.no_grad()
def baseline_compress(
    model: nn.Sequential, calibration_x: torch.Tensor, name: str, params: BaselineParams
) -> BaselineResult:
    """Compress a copy of ``model`` with baseline ``name``; ``model`` is left unchanged."""
    if name not in BASELINES:
        raise ConfigError(f"Unknown baseline {name!r}. Valid names: {', '.join(BASELINES)}.")
    if params.structured and name not in STRUCTURED_BASELINES:
        raise ConfigError(
            f"{name} has no structured version; use method.structured=false, or one of "
            f"{', '.join(STRUCTURED_BASELINES)}."
        )
    validate_baseline(params)
    check_supported(model)
    if name in PRUNING_ONLY and params.mode != "prune":
        raise ConfigError(f"{name} prunes; use method.mode=prune (or rtn/obs to quantize).")
    if name in QUANT_ONLY and params.mode != "quant":
        raise ConfigError(f"{name} quantizes; use method.mode=quant.")
    work = copy.deepcopy(model).eval()
    x = calibration_x
    if params.calibration_size is not None and x.shape[0] > params.calibration_size:
        x = x[: params.calibration_size]
    if params.structured:
        records = structured_baseline(work, model.eval(), x, name, params)
        return BaselineResult(model=remove_dead_units(work, calibration_x[:1]), layers=records)
    layers = sorted(set(params.layers))
    positions = [position_of(work, i, "method.layers") for i in layers]
    grids = grids_for(work, params, layers) if params.mode == "quant" else {}
    result = BaselineResult(model=work, grids=grids)
    if name == "magnitude":
        weights = [work[p].weight for p in positions]
        masks = (
            magnitude.global_masks(weights, params.density)
            if params.scope == "global"
            else magnitude.per_layer_masks(weights, params.density)
        )
        for index, w, mask in zip(layers, weights, masks, strict=True):
            w.mul_(mask)
            result.layers.append({"layer": index, "kept": int(mask.sum()), "numel": w.numel()})
        return result
    for index, position in zip(layers, positions, strict=True):
        started = time.perf_counter()
        layer = work[position]
        x_in = layer_input(work, position, x)
        if name == "wanda":
            layer.weight.mul_(wanda.wanda_mask(layer, x_in, params.density))
        elif name == "rtn":
            layer.weight.copy_(rtn.round_to_nearest(layer.weight, grids[index]))
        elif params.mode == "prune":
            layer.weight.copy_(
                obs.sparsegpt(
                    layer, x_in, params.density, damp=params.damp, mask_block=params.mask_block
                )
            )
        else:
            layer.weight.copy_(obs.gptq(layer, x_in, grids[index], damp=params.damp))
        result.layers.append(
            {
                "layer": index,
                "kept": int((layer.weight != 0).sum()),
                "numel": layer.weight.numel(),
                "seconds": time.perf_counter() - started,
            }
        )
    return result
