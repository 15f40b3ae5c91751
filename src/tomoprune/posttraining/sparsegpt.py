"""SparseGPT (Frantar and Alistarh, 2023): prune a layer column by column with OBS updates,
choosing the mask block by block from the saliency w^2 / [H^-1]_jj^2.

For every block of ``block_size`` columns the mask is chosen once, when the sweep reaches the
block, from the weights as updated so far: the ``sparsity`` share of the block's entries with
the smallest saliency over all its rows together (one threshold per rows x block, as the
paper and its reference code do, so rows may differ in sparsity). Block counts are rounded so
that the layer's total is exactly round(sparsity * numel). With ``nm = "N:M"`` each row keeps
the N entries of largest saliency in every M consecutive columns, chosen when the sweep reaches
those M columns. Pruned entries are set to 0 (then quantized, with ``bits``: joint sparsity and
quantization, every column's error -- pruning plus rounding -- fed forward alike), and the OBS
update spreads the error over the columns not yet processed (see ``gptq`` for the lazy block
update).

The settings (``SparseGPT``) are in ``settings``; this module is the work its ``compress_layer``
does.
"""

from __future__ import annotations

import torch

from tomoprune.posttraining.base import (
    LayerContext,
    LayerProblem,
    LayerResult,
    cumulative_counts,
    damped_inverse_factor,
    with_dead_inputs_fixed,
)
from tomoprune.posttraining.gptq import DTYPES, codes_of
from tomoprune.posttraining.grid import GridSpec, QuantState
from tomoprune.posttraining.masks import smallest_entries, smallest_per_column
from tomoprune.posttraining.settings import SparseGPT


def compress_layer(
    settings: SparseGPT, problem: LayerProblem, context: LayerContext
) -> LayerResult:
    """``SparseGPT.compress_layer``."""
    assert problem.hessian is not None
    spec = GridSpec(bits=settings.bits, kind=settings.grid) if settings.bits else None
    weight, state = sparsegpt_prune(
        problem.weight,
        problem.hessian,
        sparsity=settings.sparsity,
        nm=settings.nm,
        spec=spec,
        block_size=settings.block_size,
        damp=settings.damp,
        dtype=DTYPES[settings.precision],
        name=problem.name,
    )
    return LayerResult(weight=weight.to(problem.weight.dtype), quant=state)


@torch.no_grad()
def sparsegpt_prune(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    *,
    sparsity: float = 0.5,
    nm: tuple[int, int] | None = None,
    spec: GridSpec | None = None,
    block_size: int = 128,
    damp: float = 0.01,
    dtype: torch.dtype = torch.float32,
    name: str = "layer",
) -> tuple[torch.Tensor, QuantState | None]:
    """The pruned (and optionally quantized) weight, and its quantization state."""
    # the sweep runs on W^T, so that a column of W is one contiguous row in memory
    wt, h = with_dead_inputs_fixed(weight.T.to(dtype), hessian.to(torch.float64))
    columns, rows = wt.shape
    grid = spec.fit(wt.T) if spec is not None else None
    scale, zero = (grid.scale.to(dtype), grid.zero.to(dtype)) if grid is not None else (None, None)
    u = damped_inverse_factor(h, damp, name, dtype)
    counts = cumulative_counts(columns, rows, sparsity, block_size)
    errors_buffer = torch.empty((min(block_size, columns), rows), dtype=dtype, device=wt.device)
    for b, i1 in enumerate(range(0, columns, block_size)):
        i2 = min(i1 + block_size, columns)
        block = wt[i1:i2]  # (block, rows), updated in place
        errors = errors_buffer[: i2 - i1]
        u_block = u[i1:i2, i1:i2]
        diag_squared = u_block.diagonal().pow(2)[:, None]
        pivots = u_block.diagonal().tolist()
        if nm is None:
            # one threshold over the block's rows x columns, ties to the lower (row, column)
            saliency = block.pow(2).div_(diag_squared)  # (block, rows)
            pruned = smallest_entries(saliency.T, counts[b]).T
        else:
            pruned = torch.empty_like(block, dtype=torch.bool)
        for i in range(i2 - i1):
            if nm is not None and i % nm[1] == 0:
                part = block[i : i + nm[1]].pow(2).div_(diag_squared[i : i + nm[1]])
                pruned[i : i + nm[1]] = smallest_per_column(part, nm[1] - nm[0])
            col = block[i]
            q = col.masked_fill(pruned[i], 0)
            if scale is not None:
                q = q.div_(scale).add_(zero).round_().clamp_(0, spec.maxq).sub_(zero).mul_(scale)
            error = errors[i]
            torch.sub(col, q, out=error).div_(pivots[i])
            block[i + 1 :].addr_(u_block[i, i + 1 :], error, alpha=-1)
            col.copy_(q)
        wt[i2:].addmm_(u[i1:i2, i2:].T, errors, alpha=-1)
    if grid is None:
        return wt.T, None
    assert spec is not None
    group_index = torch.zeros(columns, dtype=torch.long, device=wt.device)
    state = QuantState(
        bits=spec.bits,
        codes=codes_of(wt, [grid], group_index).T.to(torch.int32),
        scales=grid.scale[:, None].to(torch.float32),
        zeros=grid.zero[:, None].to(torch.float32),
        group_index=group_index,
    )
    return wt.T, state
