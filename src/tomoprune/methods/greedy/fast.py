"""The greedy loop without one forward pass per candidate.

Closed form (wide layers, structured pairs). With the score's loss the reconstruction error
E ||W x - W_hat x'||^2 at the layer's own output and a replacement t of mean w, replacing
weight (i, j) changes the expected loss by exactly ``Var(t_ij) E[x'_j^2]`` (the cross term has
mean zero), whatever was replaced before. The scores never change, so the greedy loop is one
stable sort. The same holds for a whole column (``(1 - p) / p * E||W[:, j] x'_j||^2``) and,
through a positively homogeneous activation, for a whole row of a pair layer scored at the
next layer (``(1 - p) / p * E||W_next[:, i] h_i||^2``). Convolutions use the same formulas on
their unfolded input patches.

Batched scoring (unstructured pairs). Through the activation the scores depend on the residual
and change after every step. All candidates' expected loss changes are computed at once from
the residual's projection on each unit's outgoing column, chunked by units; with
``rounds=None`` they are recomputed after every step (the exact greedy), otherwise in
``rounds`` rounds of equal size. Pairs whose compressed layer is a convolution are scored the
same way in :mod:`tomoprune.methods.greedy.conv_pairs`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tomoprune.errors import ConfigError
from tomoprune.methods.greedy.candidates import LayerCandidates


def input_energy(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """E[x'_j^2] for every weight position of ``layer`` (shape of the weight minus dim 0).

    Linear: mean over samples (and tokens) of x_j^2. Conv1d/Conv2d: mean over samples of the
    sum over output positions of the squared input entry that meets kernel position j.
    """
    x = x.to(torch.float64)
    if isinstance(layer, nn.Linear):
        return x.reshape(-1, x.shape[-1]).pow(2).mean(0)  # (batch, tokens, features) too
    if isinstance(layer, nn.Conv1d):
        if layer.groups != 1:
            raise ConfigError(
                "grouped convolutions are not supported by post-training compression."
            )
        patches = F.unfold(
            x.unsqueeze(2),
            (1, layer.kernel_size[0]),
            dilation=(1, layer.dilation[0]),
            padding=(0, layer.padding[0]),
            stride=(1, layer.stride[0]),
        )  # (S, C*k, L)
        return patches.pow(2).sum(2).mean(0).reshape(layer.weight.shape[1:])
    patches = F.unfold(
        x, layer.kernel_size, dilation=layer.dilation, padding=layer.padding, stride=layer.stride
    )  # (S, C*kh*kw, L)
    if layer.groups != 1:
        raise ConfigError("grouped convolutions are not supported by post-training compression.")
    return patches.pow(2).sum(2).mean(0).reshape(layer.weight.shape[1:])


def unit_contribution_energy(layer: nn.Module, x: torch.Tensor, units: int) -> torch.Tensor:
    """E ||layer applied to unit j's share of the input alone||^2 (bias excluded), per unit.

    ``units`` is the number of units feeding ``layer``: its input channels (Conv2d), its
    input features (Linear), or the channels of a flattened Conv2d output (Linear whose input
    splits into ``units`` equal blocks).
    """
    x = x.to(torch.float64)
    weight = layer.weight.detach().to(torch.float64)
    energy = torch.empty(units, dtype=torch.float64, device=x.device)
    if isinstance(layer, nn.Linear):
        block = weight.shape[1] // units
        for j in range(units):
            part = x[:, j * block : (j + 1) * block] @ weight[:, j * block : (j + 1) * block].T
            energy[j] = part.pow(2).sum(1).mean()
        return energy
    for j in range(units):
        part = F.conv2d(
            x[:, j : j + 1],
            weight[:, j : j + 1],
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
        )
        energy[j] = part.pow(2).reshape(part.shape[0], -1).sum(1).mean()
    return energy


def sorted_choice(
    scores: torch.Tensor, candidates: LayerCandidates, alpha: float, rng: np.random.Generator
) -> list[int]:
    """Compress the floor(alpha N) smallest scores (ties: lower index first) in that order."""
    steps = math.floor(alpha * candidates.count)
    order = np.argsort(scores.detach().cpu().numpy().reshape(-1), kind="stable")[:steps]
    uniforms = torch.from_numpy(rng.random(steps))
    law = candidates.replacement
    index = torch.from_numpy(order).to(law.low.device)
    values = torch.where(
        uniforms.to(law.prob_high) < law.prob_high[index], law.high[index], law.low[index]
    )
    candidates.set_many(index, values)
    return order.tolist()


def closed_form_scores(candidates: LayerCandidates, energy: torch.Tensor) -> torch.Tensor:
    """Var(t) x energy, one score per candidate (flat)."""
    variance = candidates.replacement.variance.to(torch.float64)
    if candidates.kind == "weight":
        out_dim = candidates.original_weight.shape[0]
        per_weight = energy.reshape(1, -1).expand(out_dim, -1).reshape(-1)
        return variance * per_weight
    return variance * energy


@torch.no_grad()
def wide_weights(layer, x, candidates, alpha, rng) -> list[int]:
    """Unstructured wide layer: one sort by Var(t_ij) E[x'_j^2]."""
    return sorted_choice(
        closed_form_scores(candidates, input_energy(layer, x)), candidates, alpha, rng
    )


@torch.no_grad()
def wide_columns(layer, x, candidates, alpha, rng) -> list[int]:
    """Structured wide layer: one sort by (1 - p) / p E ||W[:, j] x'_j||^2."""
    energy = unit_contribution_energy(layer, x, candidates.count)
    return sorted_choice(closed_form_scores(candidates, energy), candidates, alpha, rng)


@torch.no_grad()
def pair_rows(next_layer, next_input, candidates, alpha, rng) -> list[int]:
    """Structured pair: one sort by (1 - p) / p E ||W_next[:, i] h_i||^2."""
    energy = unit_contribution_energy(next_layer, next_input, candidates.count)
    return sorted_choice(closed_form_scores(candidates, energy), candidates, alpha, rng)


@torch.no_grad()
def pair_weights(
    layer: nn.Linear,
    activation: nn.Module,
    next_layer: nn.Linear,
    x: torch.Tensor,
    target: torch.Tensor,
    candidates: LayerCandidates,
    alpha: float,
    rng: np.random.Generator,
    *,
    rounds: int | None = None,
    chunk_elements: int = 2**22,
) -> list[int]:
    """Unstructured pair (Linear, elementwise activation, Linear) by batched exact scoring.

    With the residual r = target - output at the next layer, c_k the next layer's column k and
    d_s the change of unit k's activation for sample s, the loss change of a replacement is
    mean_s(-2 d_s <c_k, r_s> + d_s^2 ||c_k||^2); its expectation is taken over the two outcomes.
    """
    if not (isinstance(layer, nn.Linear) and isinstance(next_layer, nn.Linear)):
        raise ConfigError(
            "unstructured pair compression has a fast path for Linear and Conv2d pairs only; "
            "use method.implementation=literal or method.structured=true."
        )
    # in the model's own precision: float64 models (the tests) score exactly as the literal
    # algorithm does, float32 models twice as fast
    dtype = layer.weight.dtype
    x = x.to(dtype)
    weight = layer.weight.detach().to(dtype).clone()  # (H, n_in)
    bias = None if layer.bias is None else layer.bias.detach().to(dtype)
    columns = next_layer.weight.detach().to(dtype)  # (out, H)
    gram = columns.T @ columns  # (H, H)
    col_norm = gram.diagonal().clone()
    pre = x @ weight.T + (0 if bias is None else bias)  # (S, H)
    act = activation(pre)
    output = act @ columns.T + (0 if next_layer.bias is None else next_layer.bias.to(dtype))
    residual_proj = (target.to(dtype) - output) @ columns  # (S, H): <c_k, r_s>
    law = candidates.replacement
    low = law.low.to(dtype).reshape(weight.shape)
    high = law.high.to(dtype).reshape(weight.shape)
    prob = law.prob_high.to(dtype).reshape(weight.shape)
    hidden, n_in = weight.shape
    samples = x.shape[0]
    done = torch.zeros(hidden * n_in, dtype=torch.bool, device=x.device)
    steps = math.floor(alpha * candidates.count)
    per_round = 1 if rounds is None else math.ceil(steps / rounds) if steps else 0
    units_per_chunk = max(1, chunk_elements // max(1, samples * n_in))

    def scores() -> torch.Tensor:
        out = torch.empty(hidden, n_in, dtype=dtype, device=x.device)
        for start in range(0, hidden, units_per_chunk):
            stop = min(hidden, start + units_per_chunk)
            a = pre[:, start:stop, None]  # (S, k, 1)
            h = act[:, start:stop, None]
            twice_g = 2 * residual_proj[:, start:stop, None]
            norm = col_norm[start:stop, None]
            w = weight[start:stop]  # (k, n_in)
            expected = 0.0
            for value, weight_of in ((low, 1 - prob), (high, prob)):
                shift = (value[start:stop] - w)[None] * x[:, None, :]  # (S, k, n_in)
                d = activation(shift.add_(a)).sub_(h)
                # d^2 ||c_k||^2 - 2 d <c_k, r>, in place on the large (S, k, n_in) tensors
                change = (d * norm).sub_(twice_g).mul_(d).mean(0)
                expected = expected + weight_of[start:stop] * change
            out[start:stop] = expected.abs()
        return out.reshape(-1)

    chosen: list[int] = []
    while len(chosen) < steps:
        current = scores().masked_fill(done, math.inf)
        take = min(per_round, steps - len(chosen))
        order = torch.argsort(current, stable=True)[:take]
        uniforms = torch.from_numpy(rng.random(take)).to(dtype)
        units, inputs = order // n_in, order % n_in
        values = torch.where(
            uniforms < prob[units, inputs], high[units, inputs], low[units, inputs]
        )
        # the state after the round is a function of the final weights alone, so a round's
        # replacements (distinct candidates) can be applied together
        weight[units, inputs] = values
        changed = torch.unique(units)
        new_pre = x @ weight[changed].T + (0 if bias is None else bias[changed])
        d = activation(new_pre) - act[:, changed]
        pre[:, changed] = new_pre
        act[:, changed] += d
        residual_proj -= d @ gram[changed]
        candidates.set_many(order, values)
        done[order] = True
        chosen += order.tolist()
    return chosen
