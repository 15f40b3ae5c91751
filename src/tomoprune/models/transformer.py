"""A byte-level causal (decoder-only) transformer: the model of the dataset-compression task.

Input ids are the 256 byte values plus ``BOS`` (256), which starts every segment; the output is
a distribution over the 256 byte values. Pre-LayerNorm blocks (attention, then a GELU MLP),
learned position embeddings, no dropout, no weight tying (each stored tensor is one
``nn.Embedding``, ``nn.Linear`` or ``nn.LayerNorm``, so the l0 regularisers and the sparse
export see plain tensors).

Two ways to run it, with the same parameters:

- ``forward(ids)``: all positions at once, ``(batch, length) -> (batch, length, 256)`` logits;
  used for training and for measuring code lengths.
- ``start(batch, length)`` then ``step(ids_t, cache)``: one position at a time with a key/value
  cache; used by the arithmetic coder. Encoder and decoder both call ``step`` with the same
  batch shapes in the same order, so on one machine (one thread) they compute bit-identical
  logits, which is what decoding needs. The two ways agree up to float rounding.

Attention is written out (scores, causal mask, softmax, values) rather than calling a fused
kernel, so the arithmetic of one position never depends on the (masked) positions after it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tomoprune.errors import ConfigError

BYTE_SYMBOLS = 256
BOS = 256  # the id that starts every segment
INPUT_SYMBOLS = BYTE_SYMBOLS + 1


@dataclass(frozen=True, kw_only=True)
class TransformerConfig:
    """Architecture of the byte transformer. The defaults fit a shared 2-core CPU (~44k
    parameters); the paper's models are far larger (d_model 1024 and up, context 512)."""

    d_model: int = 32
    layers: int = 2
    heads: int = 2
    mlp_ratio: int = 4  # hidden width of each MLP = mlp_ratio * d_model
    context: int = 64  # segment length: the longest context the model sees
    init_seed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def validate_transformer_config(config: TransformerConfig) -> None:
    """One sentence per setting that cannot work."""
    for key in ("d_model", "layers", "heads", "mlp_ratio", "context"):
        value = getattr(config, key)
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"The 'model.{key}' setting must be at least 1. Got {value!r}.")
    if config.d_model % config.heads:
        raise ConfigError(
            f"The 'model.d_model' setting ({config.d_model}) must be a multiple of "
            f"'model.heads' ({config.heads})."
        )


class Cache:
    """Keys and values of every layer for the positions seen so far, ``(batch, heads, L, dh)``."""

    def __init__(self, layers: int, batch: int, heads: int, length: int, head_dim: int) -> None:
        shape = (batch, heads, length, head_dim)
        self.keys = [torch.zeros(shape) for _ in range(layers)]
        self.values = [torch.zeros(shape) for _ in range(layers)]
        self.position = 0


class Attention(nn.Module):
    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = d_model // heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)  # 3 x (B, T, D)
        shape = (b, t, self.heads, self.head_dim)
        return tuple(z.view(shape).transpose(1, 2) for z in (q, k, v))  # (B, H, T, dh)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask) -> torch.Tensor:
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))  # (B, H, Tq, Tk)
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v  # (B, H, Tq, dh)
        b, h, t, dh = out.shape
        return self.proj(out.transpose(1, 2).reshape(b, t, h * dh))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(x)
        t = x.shape[1]
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        return self._attend(q, k, v, mask)

    def step(self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, position: int):
        q, k, v = self._split(x)  # (B, H, 1, dh)
        keys[:, :, position : position + 1] = k
        values[:, :, position : position + 1] = v
        end = position + 1
        return self._attend(q, keys[:, :, :end], values[:, :, :end], None)


class Block(nn.Module):
    def __init__(self, d_model: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = Attention(d_model, heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, mlp_ratio * d_model),
            nn.GELU(),
            nn.Linear(mlp_ratio * d_model, d_model),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))

    def step(self, x, keys, values, position) -> torch.Tensor:
        x = x + self.attn.step(self.ln1(x), keys, values, position)
        return x + self.mlp(self.ln2(x))


class ByteTransformer(nn.Module):
    """``(batch, length)`` ids in ``[0, 256]`` -> ``(batch, length, 256)`` next-byte logits."""

    # the l0 family thresholds its weights but deletes no units (attention couples the widths)
    unit_groups = False

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        validate_transformer_config(config)
        self.config = config
        d = config.d_model
        self.token = nn.Embedding(INPUT_SYMBOLS, d)
        self.position = nn.Embedding(config.context, d)
        self.blocks = nn.ModuleList(
            Block(d, config.heads, config.mlp_ratio) for _ in range(config.layers)
        )
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, BYTE_SYMBOLS)
        self._init(torch.Generator().manual_seed(config.init_seed))

    def _init(self, generator: torch.Generator) -> None:
        """GPT-2's initialisation (normal, std 0.02; residual projections scaled down by depth),
        drawn in parameter order from ``generator``."""
        residual_std = 0.02 / math.sqrt(2 * self.config.layers)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("bias"):
                    p.zero_()
                elif ".ln" in name or name.startswith("ln_"):
                    p.fill_(1.0)
                else:
                    std = residual_std if name.endswith(("proj.weight", "mlp.2.weight")) else 0.02
                    p.normal_(0.0, std, generator=generator)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        if t > self.config.context:
            raise ValueError(f"sequence length {t} exceeds the context {self.config.context}")
        positions = torch.arange(t, device=ids.device)
        x = self.token(ids) + self.position(positions)  # (B, T, D)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))  # (B, T, 256)

    def random_input(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """Random ids, ``(batch, context)``, for the random-gradient pruning pass (every id and
        position then reaches the output, so only structurally dead weights get zero gradient)."""
        return torch.randint(0, INPUT_SYMBOLS, (batch, self.config.context), generator=generator)

    # -- one position at a time (the coder's path) ---------------------------------------
    def start(self, batch: int, length: int) -> Cache:
        c = self.config
        return Cache(c.layers, batch, c.heads, length, c.d_model // c.heads)

    @torch.inference_mode()
    def step(self, ids: torch.Tensor, cache: Cache) -> torch.Tensor:
        """Logits ``(batch, 256)`` of the next byte after ``ids`` ``(batch,)`` at the cache's
        position; advances the cache by one."""
        t = cache.position
        x = self.token(ids[:, None]) + self.position.weight[t]  # (B, 1, D)
        for block, keys, values in zip(self.blocks, cache.keys, cache.values, strict=True):
            x = block.step(x, keys, values, t)
        cache.position += 1
        return self.head(self.ln_f(x))[:, 0]  # (B, 256)


def next_byte_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (nats per byte) of ``(B, T, 256)`` logits against ``(B, T)`` bytes."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
