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
   changed since; for a next convolution it is d_s^T (A_o^T A_o) d_s with A_o the matrix of
   g_o, whose Gram matrix (H'W' x H'W') is formed once per channel when they fit the budget
   (on CPU far cheaper than convolving every candidate's d with a one-channel input).
5. The replacement t has two outcomes (low with probability 1 - q, high with probability q), so
   the expected loss change is (1 - q) DeltaL(low - w) + q DeltaL(high - w) exactly; the score is
   its absolute value, smallest first, ties to the lower flat index (as the literal algorithm).

After each round only the changed channels of z and h are recomputed; the next layer's output,
the residual and G are recomputed from h. Everything runs in the model's own dtype, so a
float64 model scores exactly as the literal algorithm does up to rounding (tested to choose
the same weights in the same order). Work is chunked by candidates so that no intermediate
tensor holds more than about ``chunk_elements`` numbers; when every candidate's d (both
outcomes) fits ``cache_elements`` numbers it is kept too, so that a rescoring recomputes d for
the changed channels only and the inner products for all candidates in one pass.
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
from tomoprune.structure.elementwise import ELEMENTWISE

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

    State is kept channel-major (channel first) so that a channel's pre-activation, activation
    and adjoint are contiguous slices. Candidates are scored in blocks of output channels (or,
    when one channel alone exceeds ``chunk_elements``, of a channel's kernel positions), so they
    share the next layer's kernel slice. When every candidate's activation change fits in
    ``cache_elements`` numbers it is kept and recomputed only for changed channels; the
    rescoring is then one batched product with the adjoint per step.

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
        cache_elements: int = 2**24,
    ) -> None:
        self.local = channel_local_part(layer, between, next_layer)
        dtype = layer.weight.dtype
        self.dtype = dtype
        self.device = x.device
        x = x.to(dtype)
        self.x = x
        self.weight = layer.weight.detach().to(dtype).clone()  # (O, C, kh, kw)
        self.bias = None if layer.bias is None else layer.bias.detach().to(dtype)
        self.conv = _conv_args(layer)
        self.next_layer = next_layer
        self.next_weight = next_layer.weight.detach().to(dtype)
        self.next_bias = None if next_layer.bias is None else next_layer.bias.detach().to(dtype)
        self.target = target.to(dtype)
        pre = F.conv2d(x, self.weight, self.bias, **self.conv)  # (S, O, H, W)
        self.samples, self.channels, height, width = pre.shape
        self.per_channel = self.weight[0].numel()  # m = C kh kw candidates per output channel
        patches = F.unfold(x, layer.kernel_size, **self.conv)  # (S, m, H W)
        patches = patches.reshape(self.samples, self.per_channel, height, width)
        self.patches = patches.transpose(0, 1).contiguous()  # (m, S, H, W)
        act = self.local(pre)  # (S, O, H', W')
        if isinstance(next_layer, nn.Linear) and next_layer.in_features != act[0].numel():
            raise _reject(
                f"found a Linear layer with {next_layer.in_features} inputs after a flattened "
                f"{tuple(act.shape[1:])} activation"
            )
        self.pre = pre.transpose(0, 1).contiguous()  # (O, S, H, W)
        self.act = act.transpose(0, 1).contiguous()  # (O, S, H', W')
        shape = (self.channels, self.per_channel)
        law = candidates.replacement
        self.values = torch.stack(
            (law.low.to(dtype).reshape(shape), law.high.to(dtype).reshape(shape)), dim=1
        )  # (O, 2, m): the two outcomes
        prob = law.prob_high.to(dtype).reshape(shape)
        self.probs = torch.stack((1 - prob, prob), dim=1)  # (O, 2, m)
        plane = max(height * width, self.act[0, 0].numel(), self.target[0].numel())
        per_candidate = 2 * self.samples * plane
        self.chunk_positions = max(1, min(self.per_channel, chunk_elements // per_candidate))
        self.chunk_channels = max(1, chunk_elements // (per_candidate * self.per_channel))
        self.quad = torch.empty(self.channels, 2, self.per_channel, dtype=dtype, device=x.device)
        self.dirty = torch.ones(self.channels, dtype=torch.bool, device=x.device)
        cached = self.channels * 2 * self.per_channel * self.samples * self.act[0, 0].numel()
        self.cache = (
            torch.empty(
                self.channels,
                2,
                self.per_channel,
                *self.act.shape[1:],
                dtype=dtype,
                device=x.device,
            )
            if cached <= cache_elements
            else None
        )  # (O, 2, m, S, H', W'): every candidate's activation change, both outcomes
        self.gram = self._channel_grams(cache_elements)
        self._refresh_residual()

    # the next layer -------------------------------------------------------------------------
    def _next(self, act: torch.Tensor) -> torch.Tensor:
        """g(h) with its bias, for h in (S, O, H', W') layout."""
        if isinstance(self.next_layer, nn.Linear):
            return F.linear(act.flatten(1), self.next_weight, self.next_bias)
        return F.conv2d(act, self.next_weight, self.next_bias, **_conv_args(self.next_layer))

    def _adjoint(self, residual: torch.Tensor) -> torch.Tensor:
        """G = g^T(R) in (S, O, H', W') layout: <g(h) - g(0), R> = <h, G> for every h."""
        shape = (self.samples, *self.act.shape[:1], *self.act.shape[2:])
        if isinstance(self.next_layer, nn.Linear):
            return (residual @ self.next_weight).reshape(shape)
        return conv2d_input(shape, self.next_weight, residual, **_conv_args(self.next_layer))

    def _next_from_channel(self, d: torch.Tensor, channel: int) -> torch.Tensor:
        """g_o(d) for d of shape (n, H', W'): the next layer fed channel ``channel`` alone."""
        if isinstance(self.next_layer, nn.Linear):
            block = d[0].numel()
            columns = self.next_weight[:, channel * block : (channel + 1) * block]  # (P, H'W')
            return d.reshape(d.shape[0], -1) @ columns.T  # (n, P)
        kernel = self.next_weight[:, channel : channel + 1]  # (P, 1, kh2, kw2)
        return F.conv2d(d[:, None], kernel, None, **_conv_args(self.next_layer))

    def _channel_grams(self, budget: int) -> torch.Tensor | None:
        """A_o^T A_o (O, H'W', H'W') for a next convolution, A_o its matrix for channel o alone.

        The quadratic term is then d^T A_o^T A_o d, much cheaper on CPU than convolving every
        candidate's d with one input channel; used when the O Gram matrices fit ``budget``.
        """
        plane = self.act[0, 0].numel()
        if isinstance(self.next_layer, nn.Linear) or self.channels * plane**2 > budget:
            return None
        basis = torch.eye(plane, dtype=self.dtype, device=self.device)
        basis = basis.reshape(plane, *self.act.shape[2:])  # (H'W', H', W'): unit planes
        grams = torch.empty(self.channels, plane, plane, dtype=self.dtype, device=self.device)
        for channel in range(self.channels):
            columns = self._next_from_channel(basis, channel).reshape(plane, -1)  # rows: A_o e_j
            grams[channel] = columns @ columns.T
        return grams

    def _refresh_residual(self) -> None:
        self.residual = self.target - self._next(self.act.transpose(0, 1))
        self.adjoint = self._adjoint(self.residual).transpose(0, 1).contiguous()  # (O, S, H', W')

    # scoring --------------------------------------------------------------------------------
    def _blocks(self, channels: torch.Tensor):
        """(channels, first, last): blocks of whole channels, or of one channel's positions."""
        if self.chunk_positions < self.per_channel:
            for channel in channels.tolist():
                for first in range(0, self.per_channel, self.chunk_positions):
                    last = min(self.per_channel, first + self.chunk_positions)
                    yield channels.new_tensor([channel]), first, last
            return
        for start in range(0, channels.numel(), self.chunk_channels):
            yield channels[start : start + self.chunk_channels], 0, self.per_channel

    def activation_change(self, channels: torch.Tensor, first: int, last: int) -> torch.Tensor:
        """d (k, 2, n, S, H', W'): h's change when K1[o].flat[first:last] takes either outcome.

        z[o] + delta P_cuv through the channel-local layers, minus h[o] (steps 1 and 2).
        """
        current = self.weight.view(self.channels, -1)[channels, first:last]  # (k, n)
        delta = self.values[channels, :, first:last] - current[:, None]  # (k, 2, n)
        z = (
            self.pre[channels][:, None, None]
            + delta[..., None, None, None] * self.patches[first:last]
        )  # (k, 2, n, S, H, W)
        k, _, n, samples = z.shape[:4]
        h = self.local(z.reshape(k * 2 * n, samples, *z.shape[4:]))
        return h.reshape(k, 2, n, samples, *h.shape[2:]) - self.act[channels][:, None, None]

    def _quadratic(self, d: torch.Tensor, channel: int) -> torch.Tensor:
        """E_s ||g_o(d_s)||^2 (2, n) for one channel's activation changes d (2, n, S, H', W')."""
        if self.gram is not None:  # d^T (A_o^T A_o) d
            flat = d.reshape(-1, self.gram.shape[1])  # (2 n S, H'W')
            quad = torch.linalg.vecdot(flat @ self.gram[channel], flat)
            return quad.reshape(d.shape[:3]).mean(2)
        out = self._next_from_channel(d.reshape(-1, *d.shape[3:]), channel)
        norms = torch.linalg.vector_norm(out.reshape(-1, out[0].numel()), dim=1)
        return norms.pow(2).reshape(d.shape[:3]).mean(2)

    def _linear(self, d: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
        """E_s <d_s, G_s,o> (k, 2, n): one matrix-vector product per channel.

        (On CPU a loop of ``mv`` is several times faster than one ``bmm`` with a vector.)
        """
        k, _, n = d.shape[:3]
        flat = d.reshape(k, 2 * n, -1)  # (k, 2n, S H' W')
        g = self.adjoint if k == self.channels else self.adjoint[channels]
        g = g.reshape(k, -1)  # (k, S H' W')
        out = torch.stack([flat[i] @ g[i] for i in range(k)])  # (k, 2n)
        return out.reshape(k, 2, n) / self.samples

    def expected_all(self, channels: torch.Tensor | None = None) -> torch.Tensor:
        """E_t L(after) - L(now) for every candidate (flat, signed, in the model's dtype).

        Only candidates in ``channels`` (default: all) are scored; the others' entries are
        undefined. Meaningful for candidates not yet compressed (weights still the originals).
        """
        if channels is None:
            channels = torch.arange(self.channels, device=self.device)
        linear = torch.empty_like(self.quad)  # (O, 2, m)
        if self.cache is not None:
            for block, first, last in self._blocks(channels[self.dirty[channels]]):
                d = self.activation_change(block, first, last)
                self.cache[block, :, first:last] = d
                for i, channel in enumerate(block.tolist()):
                    self.quad[channel, :, first:last] = self._quadratic(d[i], channel)
            self.dirty[channels] = False
            # every channel at once: a gather of the cache would cost more than the product
            linear = self._linear(self.cache, torch.arange(self.channels, device=self.device))
        else:
            for block, first, last in self._blocks(channels):
                d = self.activation_change(block, first, last)
                for i, channel in enumerate(block.tolist()):
                    if self.dirty[channel]:
                        self.quad[channel, :, first:last] = self._quadratic(d[i], channel)
                linear[block, :, first:last] = self._linear(d, block)
            self.dirty[channels] = False
        return (self.probs * (self.quad - 2 * linear)).sum(1).reshape(-1)

    def expected_changes(self, indices: torch.Tensor) -> torch.Tensor:
        """:meth:`expected_all` for the candidates ``indices`` only."""
        return self.expected_all(torch.unique(indices // self.per_channel))[indices]

    def apply(self, indices: torch.Tensor, values: torch.Tensor) -> None:
        """Replace the weights ``indices`` by ``values`` and update the state incrementally."""
        self.weight.view(-1)[indices] = values
        changed = torch.unique(indices // self.per_channel)
        bias = None if self.bias is None else self.bias[changed]
        new_pre = F.conv2d(self.x, self.weight[changed], bias, **self.conv)  # (S, k, H, W)
        self.pre[changed] = new_pre.transpose(0, 1)
        self.act[changed] = self.local(new_pre).transpose(0, 1)
        self._refresh_residual()
        self.dirty[changed] = True


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
    cache_elements: int = 2**24,
) -> list[int]:
    """Unstructured conv pair by batched exact scoring; the flat indices compressed, in order.

    ``rounds=None`` rescores every remaining candidate after every step (the exact greedy, the
    same choices as the literal algorithm); ``rounds=R`` compresses ceil(floor(alpha N) / R)
    candidates per rescoring, smallest scores first.
    """
    scorer = ConvPairScorer(
        layer, between, next_layer, x, target, candidates,
        chunk_elements=chunk_elements, cache_elements=cache_elements,
    )  # fmt: skip
    steps = math.floor(alpha * candidates.count)
    per_round = 1 if rounds is None else math.ceil(steps / rounds) if steps else 0
    done = torch.zeros(candidates.count, dtype=torch.bool, device=scorer.device)
    low, high = scorer.values[:, 0].reshape(-1), scorer.values[:, 1].reshape(-1)
    prob = scorer.probs[:, 1].reshape(-1)
    chosen: list[int] = []
    while len(chosen) < steps:
        active = torch.nonzero(~done.reshape(scorer.channels, -1).all(1)).flatten()
        scores = scorer.expected_all(active).abs().masked_fill(done, math.inf)
        take = min(per_round, steps - len(chosen))
        order = torch.argsort(scores, stable=True)[:take]  # ties: the lower flat index first
        uniforms = torch.from_numpy(rng.random(take)).to(scorer.dtype).to(order.device)
        values = torch.where(uniforms < prob[order], high[order], low[order])
        # distinct candidates of one round: the state after them depends on the weights alone
        scorer.apply(order, values)
        candidates.set_many(order, values)
        done[order] = True
        chosen += order.tolist()
    return chosen
