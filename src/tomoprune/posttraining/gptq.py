"""GPTQ (Frantar, Ashkboos, Hoefler and Alistarh, 2023): quantize a layer column by column,
spreading each column's rounding error over the columns not yet quantized.

With H = E[x x^T] + damp * mean(diag) I and U the upper Cholesky factor of H^-1, quantizing
column j to q_j leaves the error e = (w_j - q_j) / U_jj, and the optimal (OBS) correction of the
later columns is W[:, k] -= e U_jk. The solver does this in blocks of ``block_size`` columns:
inside a block the update is applied column by column to the block only, and the later columns
receive the block's errors in one matrix product ("lazy batch" updates), which is the same
arithmetic in a cache-friendly order.

Grids (``grid``): per output channel or one per tensor, optionally per group of ``group_size``
columns (a group's grid is fitted when its first column is reached, on the weights as updated
so far); ``act_order`` processes columns by decreasing H_jj (the inputs with most energy first);
``static_groups`` fits every group's grid before any update, on the original column order, so
that act-order keeps one contiguous group per ``group_size`` columns in storage.

The settings (``GPTQ``) are in ``settings``; this module is the work its ``compress_layer``
does.
"""

from __future__ import annotations

import torch

from tomoprune.posttraining.base import (
    LayerContext,
    LayerProblem,
    LayerResult,
    damped_inverse_factor,
    with_dead_inputs_fixed,
)
from tomoprune.posttraining.grid import GridSpec, QuantState, RowGrid
from tomoprune.posttraining.settings import GPTQ

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def compress_layer(settings: GPTQ, problem: LayerProblem, context: LayerContext) -> LayerResult:
    """``GPTQ.compress_layer``."""
    assert problem.hessian is not None
    weight, state = gptq_quantize(
        problem.weight,
        problem.hessian,
        grid_spec(settings),
        act_order=settings.act_order,
        static_groups=settings.static_groups,
        block_size=settings.block_size,
        damp=settings.damp,
        dtype=DTYPES[settings.precision],
        name=problem.name,
    )
    return LayerResult(weight=weight.to(problem.weight.dtype), quant=state)


def grid_spec(settings: GPTQ) -> GridSpec:
    """The quantization grid GPTQ's settings describe."""
    return GridSpec(
        bits=settings.bits,
        kind=settings.grid,
        per_channel=settings.per_channel,
        group_size=settings.group_size,
        span_radius=settings.span_radius,
    )


@torch.no_grad()
def gptq_quantize(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    spec: GridSpec,
    *,
    act_order: bool = False,
    static_groups: bool = False,
    block_size: int = 128,
    damp: float = 0.01,
    dtype: torch.dtype = torch.float32,
    name: str = "layer",
) -> tuple[torch.Tensor, QuantState]:
    """The quantized (rows, columns) weight and its codes, scales, zeros and column groups."""
    # the sweep runs on W^T, so that a column of W is one contiguous row in memory
    wt, h = with_dead_inputs_fixed(weight.T.to(dtype), hessian.to(torch.float64))
    columns, rows = wt.shape
    size = spec.group_size
    static: list[RowGrid] = []
    if static_groups and size:
        static = [spec.fit(wt[s : s + size].T) for s in range(0, columns, size)]
    perm = torch.argsort(h.diagonal(), descending=True, stable=True) if act_order else None
    if perm is not None:
        wt = wt[perm]
        h = h[perm[:, None], perm]
    u = damped_inverse_factor(h, damp, name, dtype)
    grids: list[RowGrid] = list(static) if static else [] if size else [spec.fit(wt.T)]
    # the (scale, zero) pair in use, as (rows,) tensors in the sweep's dtype
    current = _as_dtype(grids[0], dtype) if grids and not static else None
    static_pairs = [_as_dtype(g, dtype) for g in static]
    static_of = (perm.tolist() if perm is not None else list(range(columns))) if static else []
    maxq = spec.maxq
    errors_buffer = torch.empty((min(block_size, columns), rows), dtype=dtype, device=wt.device)
    for i1 in range(0, columns, block_size):
        i2 = min(i1 + block_size, columns)
        block = wt[i1:i2]  # (block, rows), updated in place
        errors = errors_buffer[: i2 - i1]
        u_block = u[i1:i2, i1:i2]
        pivots = u_block.diagonal().tolist()
        for i in range(i2 - i1):
            column = i1 + i
            if static:
                current = static_pairs[static_of[column] // size]  # type: ignore[operator]
            elif size and column % size == 0:
                # the group's columns as updated so far (beyond the block: lazy updates
                # from earlier blocks plus this block's errors up to now)
                stop = min(column + size, columns)
                part = block[i : i + (stop - column)]
                if stop > i2:
                    rest = wt[i2:stop] - u[i1 : i1 + i, i2:stop].T @ errors[:i]
                    part = torch.cat([part, rest], dim=0)
                grids.append(spec.fit(part.T))
                current = _as_dtype(grids[-1], dtype)
            assert current is not None
            scale, zero = current
            col = block[i]
            # q = scale * (clamp(round(w / scale + zero), 0, maxq) - zero), in one buffer
            q = torch.div(col, scale).add_(zero).round_().clamp_(0, maxq).sub_(zero).mul_(scale)
            error = errors[i]
            torch.sub(col, q, out=error).div_(pivots[i])
            block[i + 1 :].addr_(u_block[i, i + 1 :], error, alpha=-1)
            col.copy_(q)
        wt[i2:].addmm_(u[i1:i2, i2:].T, errors, alpha=-1)
    # each column's grid: in sweep order for groups fitted on the fly, by original position
    # for static groups
    positions = torch.arange(columns, device=wt.device)
    group_index = positions // size if size else torch.zeros_like(positions)
    if perm is not None:
        if not static:
            group_index = torch.empty_like(group_index).scatter_(0, perm, group_index)
        wt = wt[torch.argsort(perm)]
    scales = torch.stack([g.scale for g in grids], 1).to(torch.float32)
    zeros = torch.stack([g.zero for g in grids], 1).to(torch.float32)
    state = QuantState(
        bits=spec.bits,
        codes=codes_of(wt, grids, group_index).T.to(torch.int32),
        scales=scales,
        zeros=zeros,
        group_index=group_index,
    )
    return wt.T, state


def _as_dtype(grid: RowGrid, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    return grid.scale.to(dtype), grid.zero.to(dtype)


def codes_of(wt: torch.Tensor, grids: list[RowGrid], group_index: torch.Tensor) -> torch.Tensor:
    """The integer codes (columns, rows) of W^T whose columns lie on their grids' values.

    A value on the grid, scale * (code - zero), maps back to exactly its code (the rounding
    error of the division is far below 1/2), so the sweep stores values only.
    """
    if len(grids) == 1:
        scale, zero = _as_dtype(grids[0], wt.dtype)
    else:
        scale = torch.stack([g.scale for g in grids]).to(wt.dtype)[group_index]
        zero = torch.stack([g.zero for g in grids]).to(wt.dtype)[group_index]
    return torch.div(wt, scale).add_(zero).round_().clamp_(0, grids[0].maxq)
