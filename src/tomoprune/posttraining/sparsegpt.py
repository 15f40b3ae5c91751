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
from tomoprune.posttraining.gptq import DTYPES
from tomoprune.posttraining.grid import GridSpec, QuantState
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
    u = damped_inverse_factor(h, damp, name, dtype)
    codes_t = torch.empty_like(wt) if grid is not None else None
    counts = cumulative_counts(columns, rows, sparsity, block_size)
    for b, i1 in enumerate(range(0, columns, block_size)):
        i2 = min(i1 + block_size, columns)
        block = wt[i1:i2].clone()  # (block, rows)
        errors = torch.zeros_like(block)
        u_block = u[i1:i2, i1:i2]
        diag = u_block.diagonal()
        pruned = torch.zeros_like(block, dtype=torch.bool)
        if nm is None and counts[b]:
            # one threshold over the block's rows x columns (flattened row by row of W)
            saliency = (block.pow(2) / diag.pow(2)[:, None]).T.reshape(-1)
            smallest = torch.argsort(saliency, stable=True)[: counts[b]]
            flat = torch.zeros(saliency.numel(), dtype=torch.bool, device=wt.device)
            flat[smallest] = True
            pruned = flat.reshape(rows, i2 - i1).T.contiguous()
        for i in range(i2 - i1):
            if nm is not None and i % nm[1] == 0:
                part = block[i : i + nm[1]].pow(2) / diag[i : i + nm[1]].pow(2)[:, None]
                smallest = torch.argsort(part.T, dim=1, stable=True)[:, : nm[1] - nm[0]]
                chosen = torch.zeros((rows, part.shape[0]), dtype=torch.bool, device=wt.device)
                pruned[i : i + nm[1]] = chosen.scatter_(1, smallest, True).T
            col = block[i]
            q = torch.where(pruned[i], torch.zeros_like(col), col)
            if grid is not None:
                assert codes_t is not None
                code = grid.codes(q)
                codes_t[i1 + i] = code
                q = grid.values(code)
            error = (col - q) / u_block[i, i]
            block[i:].addr_(u_block[i, i:], error, alpha=-1)
            block[i] = q
            errors[i] = error
        wt[i1:i2] = block
        wt[i2:].addmm_(u[i1:i2, i2:].T, errors, alpha=-1)
    w = wt.T
    if grid is None:
        return w, None
    assert codes_t is not None and spec is not None
    state = QuantState(
        bits=spec.bits,
        codes=codes_t.T.to(torch.int32),
        scales=grid.scale[:, None].to(torch.float32),
        zeros=grid.zero[:, None].to(torch.float32),
        group_index=torch.zeros(columns, dtype=torch.long, device=w.device),
    )
    return w, state
