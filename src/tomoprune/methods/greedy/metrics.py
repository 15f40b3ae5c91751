"""What the paper measures: the normalised output error Delta and the theorem's constants.

Delta(Phi, Phi_hat) = c^(-2m) E ||Phi(x) - Phi_hat(x)||^2, with c the largest operator norm of
the dense network's weight layers and m its depth (number of weight layers). Phi is the
network's output as the paper writes it: softmax probabilities for classification, the raw
output for regression. c1 = max_l ||W_l||_op and c2 = max_l max|W_l| sqrt(max(n_l, n_{l+1}))
are the Glorot-scale constants of Theorem 2 (Conv2d weights as out x (in*kh*kw) matrices).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tomoprune.methods.greedy.layers import weighted_positions


def weight_matrices(model: nn.Sequential) -> list[torch.Tensor]:
    return [
        model[p].weight.detach().to(torch.float64).reshape(model[p].weight.shape[0], -1)
        for p in weighted_positions(model)
    ]


def scale_constants(model: nn.Sequential) -> dict[str, float]:
    """c1 (largest operator norm), c2 (largest max-abs entry times sqrt of the larger side)."""
    mats = weight_matrices(model)
    c1 = max(float(torch.linalg.matrix_norm(w, ord=2)) for w in mats)
    c2 = max(float(w.abs().max()) * math.sqrt(max(w.shape)) for w in mats)
    return {"c1": c1, "c2": c2, "depth": len(mats)}


@torch.no_grad()
def outputs(model: nn.Module, x: torch.Tensor, kind: str, batch_size: int = 4096) -> torch.Tensor:
    model.eval()
    parts = [model(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
    out = torch.cat(parts).to(torch.float64)
    return out.softmax(1) if kind == "classification" else out


@torch.no_grad()
def normalised_error(
    dense: nn.Sequential,
    compressed: nn.Module,
    x: torch.Tensor,
    kind: str,
    *,
    dense_outputs: torch.Tensor | None = None,
    constants: dict[str, float] | None = None,
    compressed_outputs: torch.Tensor | None = None,
) -> dict[str, float]:
    """Delta and the unnormalised mean squared output distance on ``x``.

    ``dense_outputs``, ``constants`` and ``compressed_outputs`` may be passed in when already
    computed (``outputs(...)`` and ``scale_constants(dense)``), to save their cost.
    """
    constants = constants or scale_constants(dense)
    reference = dense_outputs if dense_outputs is not None else outputs(dense, x, kind)
    mine = compressed_outputs if compressed_outputs is not None else outputs(compressed, x, kind)
    mse = float((mine - reference).pow(2).sum(1).mean())
    return {"delta": mse / constants["c1"] ** (2 * constants["depth"]), "output_mse": mse}


@torch.no_grad()
def task_score(
    model: nn.Module | None,
    x: torch.Tensor,
    y: torch.Tensor,
    kind: str,
    *,
    raw_outputs: torch.Tensor | None = None,
) -> float:
    """Accuracy (classification) or R^2 (regression) on ``(x, y)`` (``raw_outputs``: the
    model's outputs on ``x`` when already computed)."""
    out = raw_outputs if raw_outputs is not None else outputs(model, x, "regression")
    if kind == "classification":
        return float((out.argmax(1) == y).double().mean())
    y = y.to(torch.float64).reshape(out.shape)
    return float(1 - (out - y).pow(2).sum() / (y - y.mean(0)).pow(2).sum())
