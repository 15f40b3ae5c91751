"""OBS-style layer-wise compression with weight updates from the calibration Hessian.

Both solvers minimise the layer-output error ||W X - W_hat X||^2 with H = X X^T (plus a
damping of ``damp`` times the mean diagonal), processing input columns left to right: when
column j is fixed (pruned or quantized) with error e = (w_j - q_j) / U_jj, the not-yet-fixed
columns absorb it, W[:, j+1:] -= e U[j, j+1:], where U is the upper Cholesky factor of H^-1
(its row j holds the inverse Hessian of the remaining columns, as in the OBS update).

- SparseGPT (Frantar and Alistarh, 2023): the mask is chosen per block of ``mask_block``
  columns, keeping in each row the weights of largest w^2 / U_jj^2 at the target density.
- GPTQ/OBQ (Frantar et al., 2023): each column is rounded to the nearest grid value.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tomoprune.errors import SolverError
from tomoprune.methods.greedy.grid import UniformGrid
from tomoprune.methods.greedy.magnitude import keep_count


def layer_matrix_input(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The inputs as the columns the weight matrix multiplies: (rows of W, samples)."""
    x = x.to(torch.float64)
    if isinstance(layer, nn.Linear):
        return x.T
    patches = F.unfold(
        x, layer.kernel_size, dilation=layer.dilation, padding=layer.padding, stride=layer.stride
    )  # (S, C*kh*kw, L)
    return patches.transpose(0, 1).reshape(patches.shape[1], -1)


def inverse_hessian_factor(layer: nn.Module, x: torch.Tensor, damp: float) -> torch.Tensor:
    """Upper Cholesky factor U of (X X^T + damp * mean(diag) I)^-1, in float64."""
    inputs = layer_matrix_input(layer, x)
    hessian = inputs @ inputs.T
    dead = hessian.diagonal() == 0
    hessian[dead, dead] = 1.0  # inputs that are always zero: any weight there is free
    hessian += damp * hessian.diagonal().mean() * torch.eye(hessian.shape[0], dtype=hessian.dtype)
    try:
        lower = torch.linalg.cholesky(hessian)
        inverse = torch.cholesky_inverse(lower)
        return torch.linalg.cholesky(inverse, upper=True)
    except RuntimeError:
        raise SolverError(
            "the calibration Hessian is not positive definite; raise method.damp or use more "
            "calibration samples."
        ) from None


@torch.no_grad()
def sparsegpt(
    layer: nn.Module, x: torch.Tensor, density: float, *, damp: float = 0.01, mask_block: int = 128
) -> torch.Tensor:
    """The pruned weight (same shape as the layer's) at ``density``, with OBS updates."""
    shape = layer.weight.shape
    w = layer.weight.detach().to(torch.float64).reshape(shape[0], -1).clone()
    u = inverse_hessian_factor(layer, x, damp)
    columns = w.shape[1]
    mask = torch.ones_like(w, dtype=torch.bool)
    for j in range(columns):
        if j % mask_block == 0:
            stop = min(columns, j + mask_block)
            saliency = w[:, j:stop].pow(2) / u.diagonal()[j:stop].pow(2)
            keep = keep_count(stop - j, density)
            order = torch.argsort(-saliency, dim=1, stable=True)[:, :keep]
            block = torch.zeros_like(saliency, dtype=torch.bool)
            block.scatter_(1, order, True)
            mask[:, j:stop] = block
        pruned = torch.where(mask[:, j], w[:, j], torch.zeros_like(w[:, j]))
        error = (w[:, j] - pruned) / u[j, j]
        w[:, j] = pruned
        w[:, j + 1 :] -= error[:, None] * u[j, j + 1 :][None, :]
    return w.reshape(shape).to(layer.weight.dtype)


@torch.no_grad()
def gptq(
    layer: nn.Module, x: torch.Tensor, grid: UniformGrid, *, damp: float = 0.01
) -> torch.Tensor:
    """The quantized weight (every entry on ``grid``), with OBS updates."""
    shape = layer.weight.shape
    w = layer.weight.detach().to(torch.float64).reshape(shape[0], -1).clone()
    u = inverse_hessian_factor(layer, x, damp)
    for j in range(w.shape[1]):
        q = grid.values(grid.nearest_codes(w[:, j]))
        error = (w[:, j] - q) / u[j, j]
        w[:, j] = q
        w[:, j + 1 :] -= error[:, None] * u[j, j + 1 :][None, :]
    return w.reshape(shape).to(layer.weight.dtype)
