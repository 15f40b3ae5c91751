"""The theory's output projection for the greedy compressor (``method.project_output``).

El Cheairi, Gamarnik and Mazumder's analysis projects the output of every compressed layer onto
an l2 ball of radius c^l, with c = max_l ||W_l|| (operator norm) and l the layer's 1-based depth;
their experiments leave the projection out, and so does ``GreedyParams`` by default. With the
option on, once selected layer l is compressed a ``BallProjection`` is inserted into the
compressed Sequential right after the layer's activation (the paper's layer output
phi(W_l x)), so every later selected layer is scored and compressed on the projected network.

Radius c^l R, where:

- c is the largest operator norm of the dense network's weight matrices, the same c1 as
  ``metrics.scale_constants``;
- l = weighted layer index + 1 (the paper counts W_1 as the first layer);
- R is the largest ||x|| over the calibration inputs. The theorem assumes inputs in the unit
  ball (R = 1); scaling the ball by R makes the same statement for inputs of norm at most R.

Why the ball holds the dense network: for an activation that is 1-Lipschitz with phi(0) = 0
(ReLU, LeakyReLU, Tanh), |phi(u)| <= |u| entrywise, so ||phi(W x)|| <= ||W x|| <= ||W|| ||x||;
by induction the dense network's layer-l output has norm at most c^l R for every input of norm
at most R. The projection then leaves the dense network unchanged, and since projecting onto a
convex set is nonexpansive and the dense point lies in the set, it can only bring a compressed
layer's output closer to the dense one. The argument needs a network without biases (the
paper's) and such activations; with biases, BatchNorm or an activation like Sigmoid
(phi(0) != 0) the dense output may leave the ball. Each layer record therefore states the
radius and on what share of the calibration samples the ball clipped the compressed output
(``clipped_share``) and would have clipped the dense one (``dense_clipped_share``; 0 when the
argument holds).

Linear layers only. ``scale_constants`` measures a convolution as its out x (in*kh*kw) weight
matrix, which is not the norm of the convolution as an operator: the unfolded input repeats
each entry in up to kh*kw patches, so the operator's norm can reach sqrt(kh*kw) times the
matrix's and the ball could clip the dense network itself. Rather than project onto a ball that
need not contain the network it should protect, the option refuses convolutions.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tomoprune.errors import ConfigError
from tomoprune.methods.greedy.layers import position_of, weighted_positions
from tomoprune.structure.projection import BallProjection

# what may follow a layer as "its activation" (the projection goes after all of them)
ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.ELU, nn.GELU, nn.Sigmoid, nn.Identity, nn.Dropout)


def check_projectable(model: nn.Sequential) -> None:
    """Every weighted layer must be Linear (module docstring: why not convolutions)."""
    for position in weighted_positions(model):
        if not isinstance(model[position], nn.Linear):
            raise ConfigError(
                f"method.project_output supports networks of Linear layers only (layer "
                f"{position} is {type(model[position]).__name__}, whose reshaped weight norm "
                "does not bound the convolution); set method.project_output=false."
            )


def input_radius(calibration_x: torch.Tensor) -> float:
    """R: the largest l2 norm of a calibration input (all non-batch dimensions)."""
    radius = float(
        torch.linalg.vector_norm(calibration_x.to(torch.float64).flatten(1), dim=1).max()
    )
    if radius <= 0:
        raise ConfigError(
            "method.project_output needs calibration inputs that are not all zero; the ball's "
            "radius c^l R would be 0."
        )
    return radius


def insertion_point(model: nn.Sequential, position: int) -> int:
    """Sequential index right after the layer at ``position`` and its activation(s)."""
    at = position + 1
    while at < len(model) and isinstance(model[at], ACTIVATIONS):
        at += 1
    return at


@torch.no_grad()
def project_after(
    work: nn.Sequential,
    dense: nn.Sequential,
    index: int,
    c: float,
    input_norm: float,
    x: torch.Tensor,
) -> dict[str, Any]:
    """Insert the ball of weighted layer ``index`` into ``work``; return its record fields.

    ``x`` are the calibration inputs the shares are measured on.
    """
    radius = c ** (index + 1) * input_norm
    projection = BallProjection(radius)
    at = insertion_point(work, position_of(work, index))
    compressed_output = work[:at](x)
    dense_at = insertion_point(dense, position_of(dense, index))
    dense_output = dense[:dense_at](x)
    work.insert(at, projection)
    return {
        "radius": radius,
        "clipped_share": float(projection.outside(compressed_output).double().mean()),
        "dense_clipped_share": float(projection.outside(dense_output).double().mean()),
    }
