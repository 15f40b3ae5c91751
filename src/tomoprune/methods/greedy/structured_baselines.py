"""Unit-level baselines for structured pruning: whole units at the same count as the greedy
pruner's expected share, so that a structured greedy run can be read against them.

The units of a selected layer are, as for the greedy compressor, the input columns of a wide
layer (input features or input channels) or the output rows of a pair layer (hidden units or
filters). Either way they are the inputs of one "consumer" layer: the wide layer itself, or
the layer after the pair. Each baseline keeps ``round(density * units)`` units (at least one)
and zeroes the rest; the dead units are then removed physically.

- ``magnitude``: keep the units of largest weight norm: the l2 norm of the unit's row of W_l
  (pair) or of its column of the wide layer (wide).
- ``wanda``: keep the units of largest E ||W_c[:, i] h_i||^2, the energy unit i sends through
  the consumer W_c on the calibration data (the structured form of Wanda's |w| ||x||, and the
  deterministic version of the greedy pruner's closed-form score).
- ``ls-refit`` (``obs`` on the command line): the units of ``wanda``, then the consumer's
  weights on the kept units re-solved by least squares so that its output reconstructs the
  dense network's output there (channel pruning with reconstruction, He, Zhang and Sun,
  2017). With X_S the kept units' inputs to the consumer (unfolded patches for a convolution),
  Y the dense pre-activation output minus the bias, H = X_S X_S^T:

      W_S = Y X_S^T (H + damp * mean(diag H) * I)^+

  (a ridge damping of ``damp`` times H's mean diagonal, as the OBS solvers use; with
  ``damp = 0`` this is the ordinary least-squares solution, the pseudo-inverse where H is
  singular).

Layers are processed first to last; a layer's calibration inputs come from the already
compressed network, its reconstruction target from the dense one.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tomoprune.errors import ConfigError, SolverError
from tomoprune.methods.greedy.fast import unit_contribution_energy
from tomoprune.methods.greedy.layers import (
    layer_input,
    layer_output,
    next_weighted_position,
    position_of,
)
from tomoprune.methods.greedy.magnitude import keep_count

STRUCTURED_BASELINES = ("magnitude", "wanda", "obs")
# how structured baselines are named in results (``obs`` re-fits by least squares)
STRUCTURED_LABELS = {"magnitude": "magnitude", "wanda": "wanda", "obs": "ls-refit"}


def unit_count(layer: nn.Module, role: str) -> int:
    """Units of a wide layer (its input columns) or of a pair layer (its output rows)."""
    return int(layer.weight.shape[1] if role == "wide" else layer.weight.shape[0])


def magnitude_scores(layer: nn.Module, role: str) -> torch.Tensor:
    """l2 norm of each unit's weights: rows of a pair layer, input columns of a wide layer."""
    w = layer.weight.detach().to(torch.float64)
    if role == "wide":
        w = w.transpose(0, 1)
    return w.reshape(w.shape[0], -1).norm(dim=1)


def kept_units(scores: torch.Tensor, density: float) -> torch.Tensor:
    """The ``round(density * n)`` (at least one) highest-scoring units, sorted (ties: lower
    index first)."""
    keep = max(1, keep_count(scores.numel(), density))
    order = torch.argsort(-scores.detach().cpu(), stable=True)[:keep]
    return order.sort().values


def consumer_columns(consumer: nn.Module, units: int, kept: torch.Tensor) -> torch.Tensor:
    """Columns of the consumer's weight matrix (unfolded for a convolution) fed by ``kept``.

    Linear: input features in blocks of ``in_features / units`` (a flattened convolution
    output feeds channel-major blocks). Conv2d: input channel c feeds the kh*kw columns
    ``c*kh*kw .. (c+1)*kh*kw - 1`` of ``F.unfold``'s channel-major layout.
    """
    per_unit = int(consumer.weight[0].numel()) // units
    offsets = torch.arange(per_unit)
    return (kept.reshape(-1, 1) * per_unit + offsets.reshape(1, -1)).reshape(-1)


def _matrix_chunks(consumer: nn.Module, x: torch.Tensor, target: torch.Tensor, chunk: int):
    """(inputs as columns, targets as columns) of the consumer, ``chunk`` samples at a time."""
    bias = None if consumer.bias is None else consumer.bias.detach().to(torch.float64)
    for start in range(0, x.shape[0], chunk):
        xs = x[start : start + chunk].to(torch.float64)
        ys = target[start : start + chunk].to(torch.float64)
        if isinstance(consumer, nn.Linear):
            inputs, outputs = xs.T, ys.T
        else:
            patches = F.unfold(
                xs,
                consumer.kernel_size,
                dilation=consumer.dilation,
                padding=consumer.padding,
                stride=consumer.stride,
            )  # (S, C*kh*kw, L)
            inputs = patches.transpose(0, 1).reshape(patches.shape[1], -1)
            outputs = ys.reshape(ys.shape[0], ys.shape[1], -1).transpose(0, 1)
            outputs = outputs.reshape(ys.shape[1], -1)
        if bias is not None:
            outputs = outputs - bias.reshape(-1, 1)
        yield inputs, outputs


@torch.no_grad()
def least_squares_refit(
    consumer: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    columns: torch.Tensor,
    *,
    damp: float,
    chunk: int = 64,
) -> torch.Tensor:
    """The consumer's weight matrix on ``columns`` (out x len(columns)) that best reproduces
    ``target`` (the dense pre-activation output) from inputs ``x``, ridge-damped.

    The normal equations are accumulated over chunks of samples (the unfolded patches of a
    convolution on a large image never exist all at once) on the data's device and solved in
    float64 on the CPU (the small k x k system; CPU LAPACK has the gelsd driver).
    """
    k = columns.numel()
    columns = columns.to(x.device)
    hessian = torch.zeros(k, k, dtype=torch.float64, device=x.device)
    cross = torch.zeros(consumer.weight.shape[0], k, dtype=torch.float64, device=x.device)
    for inputs, outputs in _matrix_chunks(consumer, x, target, chunk):
        kept = inputs[columns]
        hessian += kept @ kept.T
        cross += outputs @ kept.T
    hessian, cross = hessian.cpu(), cross.cpu()
    mean_diagonal = float(hessian.diagonal().mean())
    if mean_diagonal > 0 and damp > 0:
        hessian += damp * mean_diagonal * torch.eye(k, dtype=torch.float64)
    try:
        # (H + lambda I) W^T = cross^T; gelsd gives the minimum-norm solution where singular
        solution = torch.linalg.lstsq(hessian, cross.T, driver="gelsd").solution
    except RuntimeError:
        raise SolverError(
            "the least-squares refit did not converge; raise method.damp or use more "
            "calibration samples."
        ) from None
    return solution.T.to(x.device)


@torch.no_grad()
def _zero_units(layer: nn.Module, role: str, kept: torch.Tensor) -> None:
    """Zero every unit of ``layer`` outside ``kept`` (rows and bias, or input columns)."""
    units = unit_count(layer, role)
    drop = torch.ones(units, dtype=torch.bool, device=layer.weight.device)
    drop[kept.to(drop.device)] = False
    if role == "wide":
        layer.weight[:, drop] = 0
    else:
        layer.weight[drop] = 0
        if layer.bias is not None:
            layer.bias[drop] = 0


@torch.no_grad()
def structured_baseline(
    work: nn.Sequential, dense: nn.Sequential, x: torch.Tensor, name: str, params: Any
) -> list[dict[str, Any]]:
    """Prune whole units of ``work`` in place with baseline ``name``; one record per layer.

    ``dense`` is the uncompressed model (the reconstruction target of ``ls-refit``). Dead
    units are left zeroed here; the caller removes them physically.
    """
    if name not in STRUCTURED_BASELINES:
        raise ConfigError(
            f"{name} has no structured version; structured baselines: "
            f"{', '.join(STRUCTURED_BASELINES)}."
        )
    selected = sorted(
        [(i, "wide") for i in params.layers] + [(i, "pair") for i in params.pair_layers]
    )
    records = []
    for index, role in selected:
        started = time.perf_counter()
        position = position_of(work, index, "method.layers")
        consumer_position = (
            position if role == "wide" else next_weighted_position(work, index, "method.layers")
        )
        layer, consumer = work[position], work[consumer_position]
        units = unit_count(layer, role)
        if name == "magnitude":
            scores = magnitude_scores(layer, role)
        else:
            scores = unit_contribution_energy(
                consumer, layer_input(work, consumer_position, x), units
            )
        kept = kept_units(scores, params.density)
        _zero_units(layer, role, kept)
        if name == "obs":
            inputs = layer_input(work, consumer_position, x)
            target = layer_output(dense, consumer_position, x)
            columns = consumer_columns(consumer, units, kept)
            fitted = least_squares_refit(consumer, inputs, target, columns, damp=params.damp)
            matrix = torch.zeros(
                consumer.weight.shape[0],
                consumer.weight[0].numel(),
                dtype=torch.float64,
                device=fitted.device,
            )
            matrix[:, columns.to(fitted.device)] = fitted
            consumer.weight.copy_(matrix.reshape(consumer.weight.shape))
        records.append(
            {
                "layer": index,
                "role": role,
                "unit": "column" if role == "wide" else "row",
                "units": units,
                "kept": int(kept.numel()),
                "seconds": time.perf_counter() - started,
            }
        )
    return records
