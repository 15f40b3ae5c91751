"""Batched exact scoring for unstructured pairs whose compressed layer is a convolution.

The pair is ``Conv2d K1 -> channel-local layers -> Conv2d K2`` or ``Conv2d K1 -> channel-local
layers -> Flatten -> Linear W2``; K1 is compressed weight by weight and the score is measured at
the next layer's pre-activation output, as in :func:`tomoprune.methods.greedy.fast.pair_weights`
for two Linear layers. "Channel-local" layers act on every channel on its own: elementwise
activations, dropout (the model is in eval mode), max and average pooling.

The maths. Write x (S x C x H_in x W_in) for the layer's input, z = K1 * x + b1 (S x O x H x W)
for its pre-activation, h = f(z) (S x O x H' x W') for what the next layer receives (f the
channel-local layers) and y = g(h) for the next layer's output, R = target - y the residual.

1. Changing K1[o, c, u, v] by delta changes only channel o of z, by delta times the input plane
   that meets kernel position (c, u, v): P_cuv[s, i, j] = x_pad[s, c, i st + u dl, j st + v dl]
   (row c kh kw + u kw + v of ``F.unfold(x)``; st the stride, dl the dilation, x_pad the
   zero-padded input). The bias is not touched, but it is part of z.
2. Since f acts channel by channel, only channel o of h changes, by
   d_s = f(z[s, o] + delta P_cuv[s]) - f(z[s, o])  (H' x W' per sample).
3. The next layer's output changes by Delta_s = g_o(d_s), g_o the next layer applied to channel
   o alone without its bias: the convolution with the kernel slice K2[:, o] (P x kh2 x kw2), or,
   after Flatten, W2[:, block of o] @ vec(d_s) with the block of H' W' columns that channel o
   owns.
4. With L = mean_s ||R_s||^2 the loss change is mean_s(-2 <Delta_s, R_s> + ||Delta_s||^2).
   The inner product is <d_s, G_s,o> with G = g^T(R) (S x O x H' x W') the adjoint of the next
   layer applied to the residual (``conv2d_input`` for a convolution, R @ W2 reshaped for a
   Linear), computed once per rescoring for all candidates. The squared norm depends only on
   channel o's pre-activation, so it is cached per candidate and recomputed only for channels
   changed since.
5. The replacement t has two outcomes (low with probability 1 - q, high with probability q), so
   the expected loss change is (1 - q) DeltaL(low - w) + q DeltaL(high - w) exactly; the score is
   its absolute value, smallest first, ties to the lower flat index (as the literal algorithm).

After each round only the changed channels of z and h are recomputed; the next layer's output,
the residual and G are recomputed from h. Everything runs in the model's own dtype, so a
float64 model scores exactly as the literal algorithm does up to rounding (tested to choose
the same weights in the same order). Work is chunked by candidates so that no intermediate
tensor holds more than about ``chunk_elements`` numbers.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.grad import conv2d_input

from tomoprune.errors import ConfigError
from tomoprune.methods.greedy.candidates import LayerCandidates

ELEMENTWISE = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.GELU,
    nn.ELU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Identity,
    nn.Dropout,
)
# act on each channel of an (N, C, H, W) tensor on its own
CHANNEL_LOCAL = ELEMENTWISE + (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)
WAY_OUT = "Use method.implementation=literal."


def _reject(problem: str) -> ConfigError:
    return ConfigError(f"unstructured pair compression in the fast path {problem}. {WAY_OUT}")


def _check_conv(layer: nn.Conv2d, role: str) -> None:
    if layer.groups != 1:
        raise _reject(f"needs ungrouped convolutions; the {role} has groups={layer.groups}")
    if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
        raise _reject(
            f"needs numeric zero padding; the {role} has padding={layer.padding!r}, "
            f"padding_mode={layer.padding_mode!r}"
        )


def channel_local_part(layer: nn.Module, between: nn.Sequential, next_layer: nn.Module):
    """The layers between the pair with any Flatten left out, checked to keep the scoring exact.

    Raises a one-line :class:`ConfigError` naming ``method.implementation=literal`` for any
    structure the batched scorer does not cover.
    """
    if not isinstance(layer, nn.Conv2d):
        raise _reject(f"handles Conv2d or Linear layers; got {type(layer).__name__}")
    _check_conv(layer, "compressed layer")
    local: list[nn.Module] = []
    flattened = False
    for module in between:
        if isinstance(module, nn.Flatten):
            if flattened or module.start_dim != 1 or module.end_dim != -1:
                raise _reject("needs one Flatten(1, -1) between a convolution and a Linear layer")
            flattened = True
        elif isinstance(module, ELEMENTWISE if flattened else CHANNEL_LOCAL):
            local.append(module)
        else:
            raise _reject(
                "needs only elementwise activations, pooling and Flatten between the pair; "
                f"found {type(module).__name__}"
            )
    if isinstance(next_layer, nn.Conv2d) and not flattened:
        _check_conv(next_layer, "next layer")
    elif not (isinstance(next_layer, nn.Linear) and flattened):
        raise _reject(
            "handles Conv2d -> Conv2d, or Conv2d -> Flatten -> Linear; got "
            f"{type(next_layer).__name__} {'after' if flattened else 'without'} a Flatten"
        )
    return nn.Sequential(*local)


def _conv_args(layer: nn.Conv2d) -> dict:
    return {"stride": layer.stride, "padding": layer.padding, "dilation": layer.dilation}


class ConvPairScorer:
    """The state of one conv pair during the greedy loop and every candidate's exact score.

    Parameters
    ----------
    layer : nn.Conv2d
        The compressed layer (its weights are read, never written; ``apply`` updates a copy).
    between : nn.Sequential
        The modules between the pair (channel-local layers and at most one Flatten).
    next_layer : nn.Conv2d or nn.Linear
        The layer at whose pre-activation output the loss is measured (not compressed).
    x : torch.Tensor
        The compressed layer's input, S x C x H_in x W_in.
    target : torch.Tensor
        The uncompressed network's output of ``next_layer`` on the same samples.
    candidates : LayerCandidates
        The layer's unstructured candidates (flat indices into K1) and replacement laws.
    """

    def __init__(
        self,
        layer: nn.Conv2d,
        between: nn.Sequential,
        next_layer: nn.Module,
        x: torch.Tensor,
        target: torch.Tensor,
        candidates: LayerCandidates,
        *,
        chunk_elements: int = 2**22,
    ) -> None:
        self.local = channel_local_part(layer, between, next_layer)
        dtype = layer.weight.dtype
        self.dtype = dtype
        self.x = x.to(dtype)
        self.weight = layer.weight.detach().to(dtype).clone()  # (O, C, kh, kw)
        self.bias = None if layer.bias is None else layer.bias.detach().to(dtype)
        self.conv = _conv_args(layer)
        self.next_layer = next_layer
        self.next_weight = next_layer.weight.detach().to(dtype)
        self.next_bias = None if next_layer.bias is None else next_layer.bias.detach().to(dtype)
        self.target = target.to(dtype)
        self.pre = F.conv2d(self.x, self.weight, self.bias, **self.conv)  # (S, O, H, W)
        samples, self.channels, height, width = self.pre.shape
        self.per_channel = self.weight[0].numel()  # C kh kw candidates per output channel
        patches = F.unfold(self.x, layer.kernel_size, **self.conv)  # (S, C kh kw, H W)
        self.patches = patches.reshape(samples, self.per_channel, height, width)
        self.act = self.local(self.pre)  # (S, O, H', W')
        if isinstance(next_layer, nn.Linear) and next_layer.in_features != self.act[0].numel():
            raise _reject(
                f"found a Linear layer with {next_layer.in_features} inputs after a flattened "
                f"{tuple(self.act.shape[1:])} activation"
            )
        law = candidates.replacement
        self.outcomes = (
            (law.low.to(dtype).reshape(-1), 1 - law.prob_high.to(dtype).reshape(-1)),
            (law.high.to(dtype).reshape(-1), law.prob_high.to(dtype).reshape(-1)),
        )
        count = candidates.count
        self.quad = torch.empty(count, 2, dtype=dtype, device=self.x.device)
        self.quad_valid = torch.zeros(count, dtype=torch.bool, device=self.x.device)
        plane = max(height * width, self.act[0, 0].numel())
        out_per_sample = self.target[0].numel()
        self.chunk_linear = max(1, chunk_elements // (samples * plane))
        self.chunk_quad = max(1, chunk_elements // (samples * max(plane, out_per_sample)))
        self._refresh_residual()

    # the next layer -------------------------------------------------------------------------
    def _next(self, act: torch.Tensor) -> torch.Tensor:
        if isinstance(self.next_layer, nn.Linear):
            return F.linear(act.flatten(1), self.next_weight, self.next_bias)
        return F.conv2d(act, self.next_weight, self.next_bias, **_conv_args(self.next_layer))

    def _adjoint(self, residual: torch.Tensor) -> torch.Tensor:
        """G = g^T(R): <g(h), R> = <h, G> for every h (S x O x H' x W')."""
        if isinstance(self.next_layer, nn.Linear):
            return (residual @ self.next_weight).reshape(self.act.shape)
        return conv2d_input(
            self.act.shape, self.next_weight, residual, **_conv_args(self.next_layer)
        )

    def _next_from_channel(self, d: torch.Tensor, channel: int) -> torch.Tensor:
        """g_o(d) for d of shape (n, H', W'): the next layer fed channel ``channel`` alone."""
        if isinstance(self.next_layer, nn.Linear):
            block = d[0].numel()
            columns = self.next_weight[:, channel * block : (channel + 1) * block]  # (P, H'W')
            return d.reshape(d.shape[0], -1) @ columns.T  # (n, P)
        kernel = self.next_weight[:, channel : channel + 1]  # (P, 1, kh2, kw2)
        return F.conv2d(d[:, None], kernel, None, **_conv_args(self.next_layer))

    def _refresh_residual(self) -> None:
        self.residual = self.target - self._next(self.act)
        self.adjoint = self._adjoint(self.residual)  # (S, O, H', W')

    # scoring --------------------------------------------------------------------------------
    def activation_change(self, indices: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """d (S x n x H' x W'): the change of h's channel when candidate i takes value i."""
        channel, position = indices // self.per_channel, indices % self.per_channel
        delta = values - self.weight.view(-1)[indices]  # (n,)
        z = self.pre[:, channel] + delta[None, :, None, None] * self.patches[:, position]
        return self.local(z) - self.act[:, channel]

    def _fill_quadratic(self, indices: torch.Tensor) -> None:
        """Cache E_s ||g_o(d_s)||^2 for both outcomes of ``indices`` (channel by channel)."""
        channel_of = indices // self.per_channel
        for channel in torch.unique(channel_of).tolist():
            mine = indices[channel_of == channel]
            for start in range(0, mine.numel(), self.chunk_quad):
                part = mine[start : start + self.chunk_quad]
                for column, (value, _) in enumerate(self.outcomes):
                    d = self.activation_change(part, value[part])  # (S, k, H', W')
                    samples, k = d.shape[:2]
                    flat = d.transpose(0, 1).reshape(k * samples, *d.shape[2:])
                    out = self._next_from_channel(flat, channel)
                    self.quad[part, column] = out.pow(2).reshape(k, samples, -1).sum(2).mean(1)
        self.quad_valid[indices] = True

    def expected_changes(self, indices: torch.Tensor) -> torch.Tensor:
        """E_t L(after) - L(now) for each candidate in ``indices`` (signed, in the model's dtype).

        ``indices`` must be candidates not yet compressed (their weights still the originals).
        """
        stale = indices[~self.quad_valid[indices]]
        if stale.numel():
            self._fill_quadratic(stale)
        out = torch.empty(indices.numel(), dtype=self.dtype, device=self.x.device)
        for start in range(0, indices.numel(), self.chunk_linear):
            part = indices[start : start + self.chunk_linear]
            channel = part // self.per_channel
            g = self.adjoint[:, channel]  # (S, k, H', W')
            expected = torch.zeros(part.numel(), dtype=self.dtype, device=self.x.device)
            for column, (value, weight_of) in enumerate(self.outcomes):
                d = self.activation_change(part, value[part])
                inner = (d * g).sum((2, 3)).mean(0)  # E_s <d_s, G_s,o>
                expected += weight_of[part] * (self.quad[part, column] - 2 * inner)
            out[start : start + part.numel()] = expected
        return out

    def apply(self, indices: torch.Tensor, values: torch.Tensor) -> None:
        """Replace the weights ``indices`` by ``values`` and update the state incrementally."""
        self.weight.view(-1)[indices] = values
        changed = torch.unique(indices // self.per_channel)
        bias = None if self.bias is None else self.bias[changed]
        new_pre = F.conv2d(self.x, self.weight[changed], bias, **self.conv)
        self.pre[:, changed] = new_pre
        self.act[:, changed] = self.local(new_pre)
        self._refresh_residual()
        channel_of = torch.arange(self.quad_valid.numel(), device=changed.device)
        self.quad_valid[torch.isin(channel_of // self.per_channel, changed)] = False


@torch.no_grad()
def conv_pair_weights(
    layer: nn.Conv2d,
    between: nn.Sequential,
    next_layer: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    candidates: LayerCandidates,
    alpha: float,
    rng: np.random.Generator,
    *,
    rounds: int | None = None,
    chunk_elements: int = 2**22,
) -> list[int]:
    """Unstructured conv pair by batched exact scoring; the flat indices compressed, in order.

    ``rounds=None`` rescores every remaining candidate after every step (the exact greedy, the
    same choices as the literal algorithm); ``rounds=R`` compresses ceil(floor(alpha N) / R)
    candidates per rescoring, smallest scores first.
    """
    scorer = ConvPairScorer(
        layer, between, next_layer, x, target, candidates, chunk_elements=chunk_elements
    )
    steps = math.floor(alpha * candidates.count)
    per_round = 1 if rounds is None else math.ceil(steps / rounds) if steps else 0
    done = torch.zeros(candidates.count, dtype=torch.bool, device=scorer.x.device)
    (low, _), (high, prob) = scorer.outcomes
    chosen: list[int] = []
    while len(chosen) < steps:
        left = torch.nonzero(~done).flatten()
        scores = scorer.expected_changes(left).abs()
        take = min(per_round, steps - len(chosen))
        order = left[torch.argsort(scores, stable=True)[:take]]
        uniforms = torch.from_numpy(rng.random(take)).to(scorer.dtype).to(order.device)
        values = torch.where(uniforms < prob[order], high[order], low[order])
        # distinct candidates of one round: the state after them depends on the weights alone
        scorer.apply(order, values)
        candidates.set_many(order, values)
        done[order] = True
        chosen += order.tolist()
    return chosen
