"""The randomized greedy compressor: selected layers first to last on the partly compressed
network (Algorithm 1 of El Cheairi, Gamarnik and Mazumder), fast or literal.

For a wide layer l the score is measured at l's own pre-activation output; for a pair layer l
at the pre-activation output of the next weighted layer. The target at depth kappa is the
uncompressed network's output there, on the same calibration inputs. With ``project_output``
each compressed layer's output is projected onto the theory's ball (``projection``), and the
later layers are scored on the projected network.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from tomoprune.errors import ConfigError
from tomoprune.methods.greedy import fast
from tomoprune.methods.greedy.candidates import make_candidates
from tomoprune.methods.greedy.conv_pairs import conv_pair_weights
from tomoprune.methods.greedy.layers import (
    check_homogeneous_between,
    check_supported,
    layer_input,
    layer_output,
    next_weighted_position,
    position_of,
    weighted_positions,
)
from tomoprune.methods.greedy.literal import literal_greedy, reconstruction_loss
from tomoprune.methods.greedy.metrics import scale_constants
from tomoprune.methods.greedy.params import GreedyParams, validate_greedy
from tomoprune.methods.greedy.projection import check_projectable, input_radius, project_after
from tomoprune.posttraining.replacement import UniformGrid, layer_grid
from tomoprune.structure import apply_removal, find_groups, plan_removal
from tomoprune.structure.elementwise import ELEMENTWISE
from tomoprune.structure.projection import BallProjection


@dataclass
class GreedyResult:
    """The compressed model, one record per compressed layer, and the grids used."""

    model: nn.Sequential
    layers: list[dict[str, Any]] = field(default_factory=list)
    grids: dict[int, UniformGrid] = field(default_factory=dict)
    # weighted-layer index -> flat indices compressed (quantized weights live there)
    compressed: dict[int, list[int]] = field(default_factory=dict)


def grids_for(model: nn.Sequential, params: Any, layers: list[int]) -> dict[int, UniformGrid]:
    """Per-layer grids on [-M_l, M_l], or one shared grid on the largest M over all layers."""
    positions = weighted_positions(model)
    max_abs = {i: float(model[positions[i]].weight.detach().abs().max()) for i in layers}
    if params.grid == "shared":
        shared = max(float(model[p].weight.detach().abs().max()) for p in positions)
        return {i: layer_grid(shared, params.bits) for i in layers}
    return {i: layer_grid(max_abs[i], params.bits) for i in layers}


def check_greedy(model: nn.Sequential, params: GreedyParams) -> None:
    """Every setting and layer index checked against the model (one-line ConfigError)."""
    validate_greedy(params)
    check_supported(model)
    for index in params.wide_layers:
        position_of(model, index)
    for index in params.pair_layers:
        position_of(model, index, "method.pair_layers")
        next_weighted_position(model, index)


@torch.no_grad()
def greedy_compress(
    model: nn.Sequential,
    calibration_x: torch.Tensor,
    params: GreedyParams,
    rng: np.random.Generator | None = None,
) -> GreedyResult:
    """Compress a copy of ``model`` as ``params`` say; ``model`` itself is left unchanged.

    ``rng`` supplies every draw (default: ``np.random.default_rng(params.seed)``), so the same
    seed gives the same network.
    """
    check_greedy(model, params)
    rng = rng if rng is not None else np.random.default_rng(params.seed)
    dense = model.eval()
    work = copy.deepcopy(model).eval()
    x = calibration_x
    if params.calibration_size is not None and x.shape[0] > params.calibration_size:
        x = x[: params.calibration_size]
    selected = sorted(
        [(i, "wide") for i in params.wide_layers] + [(i, "pair") for i in params.pair_layers]
    )
    for index, _ in selected:
        position_of(model, index)
    grids = grids_for(model, params, [i for i, _ in selected]) if params.mode == "quant" else {}
    if params.project_output:
        check_projectable(model)
        c, input_norm = scale_constants(dense)["c1"], input_radius(calibration_x)
    result = GreedyResult(model=work, grids=grids)
    for index, role in selected:
        # positions in ``work`` move as projections are inserted; ``dense`` has its own
        position = position_of(work, index)
        kappa = position if role == "wide" else next_weighted_position(work, index)
        dense_kappa = (
            position_of(dense, index) if role == "wide" else next_weighted_position(dense, index)
        )
        started = time.perf_counter()
        x_in = layer_input(work, position, x)
        target = layer_output(dense, dense_kappa, x)
        segment = work[position : kappa + 1]
        layer = work[position]
        kind = "weight" if not params.structured else ("column" if role == "wide" else "row")
        if kind == "row":
            check_homogeneous_between(work, position, kappa)
        candidates = make_candidates(
            layer, kind=kind, mode=params.mode, p=params.p, grid=grids.get(index)
        )
        before = reconstruction_loss(segment(x_in), target)
        if params.implementation == "literal":
            chosen = literal_greedy(segment, x_in, target, candidates, params.alpha, rng)
            how = "literal"
        elif kind == "weight" and role == "wide":
            chosen = fast.wide_weights(layer, x_in, candidates, params.alpha, rng)
            how = "closed-form sort"
        elif kind == "column":
            chosen = fast.wide_columns(layer, x_in, candidates, params.alpha, rng)
            how = "closed-form sort"
        elif kind == "row":
            next_input = layer_input(work, kappa, x)
            chosen = fast.pair_rows(work[kappa], next_input, candidates, params.alpha, rng)
            how = "closed-form sort"
        else:
            between = work[position + 1 : kappa]
            if isinstance(layer, nn.Conv2d):
                pair_scorer = conv_pair_weights
            else:
                for module in between:
                    if not isinstance(module, ELEMENTWISE):
                        raise ConfigError(
                            "unstructured pair compression needs an elementwise activation "
                            f"between the pair; found {type(module).__name__}. Use "
                            "method.implementation=literal."
                        )
                pair_scorer = fast.pair_weights
            chosen = pair_scorer(
                layer,
                between,
                work[kappa],
                x_in,
                target,
                candidates,
                params.alpha,
                rng,
                rounds=params.rescore_rounds,
            )
            how = (
                "batched, rescored every step"
                if params.rescore_rounds is None
                else f"batched, {params.rescore_rounds} rescoring rounds"
            )
        after = reconstruction_loss(segment(x_in), target)
        result.compressed[index] = chosen
        projected = (
            project_after(work, dense, index, c, input_norm, x) if params.project_output else {}
        )
        result.layers.append(
            {
                "layer": index,
                "role": role,
                "unit": kind,
                "candidates": candidates.count,
                "compressed": len(chosen),
                "scoring": how,
                "loss_before": before,
                "loss_after": after,
                **projected,
                "seconds": time.perf_counter() - started,
            }
        )
    if params.structured:
        result.model = remove_dead_units(result.model, calibration_x[:1])
    return result


def remove_dead_units(model: nn.Sequential, example_inputs: torch.Tensor) -> nn.Sequential:
    """Physically remove hidden units whose outgoing column or incoming row is all zero.

    Such a unit contributes nothing to the next layer (zero column), or emits zero through a
    positively homogeneous activation (zero row and bias), so the outputs do not change. The
    removal goes through the unit groups (``tomoprune.structure``) traced on ``example_inputs``.

    A ``BallProjection`` between the two layers couples the units through their joint norm: a
    unit that emits zero adds nothing to the norm and is still removed exactly, but a unit with
    a zero outgoing column and a non-zero output still counts in the norm that scales the
    others, so it is kept (its zero column stays in place).
    """
    keep: dict[str, torch.Tensor] = {}
    positions = weighted_positions(model)
    for pos, nxt in zip(positions[:-1], positions[1:], strict=True):
        layer, following = model[pos], model[nxt]
        units = layer.weight.shape[0]
        rows_dead = layer.weight.detach().reshape(units, -1).abs().sum(1) == 0
        if layer.bias is not None:
            rows_dead &= layer.bias.detach() == 0
        cols = following.weight.detach().transpose(0, 1).reshape(following.weight.shape[1], -1)
        block = cols.shape[0] // units
        cols_dead = cols.reshape(units, -1).abs().sum(1) == 0 if block else rows_dead
        between = model[pos + 1 : nxt]
        # layers that map a zero unit to zero and whose other outputs ignore it
        zero_preserving = all(
            isinstance(
                m, (nn.ReLU, nn.Flatten, nn.Identity, nn.MaxPool2d, nn.Dropout, BallProjection)
            )
            for m in between
        )
        if any(isinstance(m, BallProjection) for m in between):
            cols_dead = torch.zeros_like(cols_dead)
        dead = cols_dead | (rows_dead if zero_preserving else torch.zeros_like(rows_dead))
        if 0 < int((~dead).sum()) < units:
            keep[str(pos)] = torch.nonzero(~dead).flatten()
    if not keep:
        return model
    groups = find_groups(model, example_inputs)
    return apply_removal(model, plan_removal(model, groups, keep))
