"""The baselines at the same sparsity or bit width, on the same layers, first to last.

``magnitude`` (global or per layer), ``wanda`` and SparseGPT (``obs`` in prune mode) zero
``1 - density`` of each selected layer; ``rtn`` and GPTQ (``obs`` in quant mode) put every
weight of each selected layer on the paper's grid. Unstructured baselines run through the
post-training driver (``tomoprune.posttraining.compress_``; layers are the Sequential
positions of the selected weighted layers). With ``structured`` the pruning baselines remove
whole units instead (``structured_baselines``: magnitude, wanda, and ``obs`` as a least-squares
refit of the next layer). Calibration inputs of a layer come from the
already-compressed layers before it, as SparseGPT and GPTQ process a network.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from tomoprune.errors import ConfigError
from tomoprune.methods.greedy import magnitude
from tomoprune.methods.greedy.algorithm import grids_for, remove_dead_units
from tomoprune.methods.greedy.layers import check_supported, position_of
from tomoprune.methods.greedy.params import BaselineParams, validate_baseline
from tomoprune.methods.greedy.structured_baselines import (
    STRUCTURED_BASELINES,
    structured_baseline,
)
from tomoprune.posttraining import GPTQ, RTN, Compressor, Magnitude, SparseGPT, Wanda, compress_
from tomoprune.posttraining.replacement import UniformGrid

BASELINES = ("magnitude", "wanda", "rtn", "obs")
PRUNING_ONLY = ("magnitude", "wanda")
QUANT_ONLY = ("rtn",)


@dataclass
class BaselineResult:
    model: nn.Sequential
    layers: list[dict[str, Any]] = field(default_factory=list)
    grids: dict[int, UniformGrid] = field(default_factory=dict)


def check_baseline(model: nn.Sequential, name: str, params: BaselineParams) -> None:
    """Every setting and layer index checked against the model (one-line ConfigError)."""
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
    for index in (*params.layers, *params.pair_layers):
        position_of(model, index, "method.layers")


@torch.no_grad()
def baseline_compress(
    model: nn.Sequential, calibration_x: torch.Tensor, name: str, params: BaselineParams
) -> BaselineResult:
    """Compress a copy of ``model`` with baseline ``name``; ``model`` is left unchanged."""
    check_baseline(model, name, params)
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
    if name == "magnitude" and params.scope == "global":
        weights = [work[p].weight for p in positions]
        masks = magnitude.global_masks(weights, params.density)
        for index, w, mask in zip(layers, weights, masks, strict=True):
            w.mul_(mask)
            result.layers.append({"layer": index, "kept": int(mask.sum()), "numel": w.numel()})
        return result
    settings = driver_settings(name, params, grids, layers)
    report = compress_(work, settings, calibration=x, layers=[str(p) for p in positions])
    for index, position, record in zip(layers, positions, report.layers, strict=True):
        layer = work[position]
        if index in grids:
            # the same codes, in the arithmetic of the paper grid's export (offset + scale * q)
            layer.weight.copy_(grids[index].nearest(layer.weight))
        result.layers.append(
            {
                "layer": index,
                "kept": int((layer.weight != 0).sum()),
                "numel": layer.weight.numel(),
                "calibration_samples": record["samples"],
                "relative_error": record["relative_error"],
                "seconds": record["seconds"],
            }
        )
    return result


def driver_settings(
    name: str, params: BaselineParams, grids: dict[int, UniformGrid], layers: list[int]
) -> Compressor:
    """The post-training compressor a baseline name and its settings stand for.

    ``obs`` is SparseGPT (prune) or GPTQ (quant); quantization uses the paper's grid of
    2**bits levels on [-M, M], one per layer (or one shared), so that the baselines and the
    greedy quantizer compete on the same grid.
    """
    radius = None
    if params.mode == "quant" and params.grid == "shared":
        radius = -grids[layers[0]].offset
    if name == "magnitude":
        return Magnitude(sparsity=1.0 - params.density, scope="layer")
    if name == "wanda":
        return Wanda(sparsity=1.0 - params.density)
    if name == "rtn":
        return RTN(bits=params.bits, grid="span", per_channel=False, span_radius=radius)
    if params.mode == "prune":
        return SparseGPT(
            sparsity=1.0 - params.density, block_size=params.mask_block, damp=params.damp
        )
    return GPTQ(
        bits=params.bits, grid="span", per_channel=False, span_radius=radius, damp=params.damp
    )
