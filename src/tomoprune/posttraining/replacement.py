"""Random replacements with mean w: pruning's w * Bernoulli(p) / p and stochastic rounding
onto a uniform grid of 2k levels.

Both are two-point distributions: t = ``high`` with probability ``prob_high``, else ``low``,
with ``E t = w``. Keeping that one form lets the literal algorithm compute E_t L exactly (two
loss evaluations per candidate) and the closed form use ``Var t = (high - w)(w - low)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tomoprune.errors import ConfigError


@dataclass(frozen=True)
class TwoPoint:
    """t = ``high`` with probability ``prob_high`` else ``low`` (elementwise tensors)."""

    low: torch.Tensor
    high: torch.Tensor
    prob_high: torch.Tensor

    @property
    def mean(self) -> torch.Tensor:
        return self.low + self.prob_high * (self.high - self.low)

    @property
    def variance(self) -> torch.Tensor:
        return self.prob_high * (1 - self.prob_high) * (self.high - self.low) ** 2

    def draw(self, uniforms: torch.Tensor) -> torch.Tensor:
        """One draw per element from uniforms in [0, 1): high where u < prob_high."""
        return torch.where(uniforms < self.prob_high, self.high, self.low)


@dataclass(frozen=True)
class UniformGrid:
    """``levels`` equally spaced values from ``offset`` to ``offset + scale * (levels - 1)``.

    The paper's grid S_l spans [-M, M] with M the layer's largest absolute entry (or the
    largest over all layers for a shared grid); value of code q is ``offset + scale * q``.
    """

    offset: float
    scale: float
    levels: int

    @classmethod
    def symmetric(cls, max_abs: float, bits: int) -> UniformGrid:
        if not 1 <= bits <= 16:
            raise ConfigError(f"The 'method.bits' setting must be between 1 and 16. Got {bits}.")
        levels = 2**bits
        max_abs = float(max_abs) if max_abs > 0 else 1.0
        return cls(offset=-max_abs, scale=2 * max_abs / (levels - 1), levels=levels)

    def position(self, w: torch.Tensor) -> torch.Tensor:
        """(w - offset) / scale, clamped into the grid's span."""
        return ((w - self.offset) / self.scale).clamp(0, self.levels - 1)

    def values(self, codes: torch.Tensor) -> torch.Tensor:
        return self.offset + self.scale * codes.to(torch.float64)

    def nearest_codes(self, w: torch.Tensor) -> torch.Tensor:
        return torch.round(self.position(w.to(torch.float64))).to(torch.int64)

    def nearest(self, w: torch.Tensor) -> torch.Tensor:
        """Deterministic round-to-nearest (ties to even), in w's dtype."""
        return self.values(self.nearest_codes(w)).to(w.dtype)

    def stochastic(self, w: torch.Tensor) -> TwoPoint:
        """Stochastic rounding to the two neighbouring grid values, E t = w (Lemma 8)."""
        pos = self.position(w.to(torch.float64))
        lower = torch.floor(pos).clamp(max=self.levels - 2)
        frac = pos - lower
        low = self.values(lower).to(w.dtype)
        high = self.values(lower + 1).to(w.dtype)
        return TwoPoint(low=low, high=high, prob_high=frac.to(w.dtype))

    def describe(self) -> dict[str, float | int]:
        return {"offset": self.offset, "scale": self.scale, "levels": self.levels}


def prune_replacement(w: torch.Tensor, p: float) -> TwoPoint:
    """t = w * Bernoulli(p) / p: zero with probability 1 - p, else w / p."""
    return TwoPoint(low=torch.zeros_like(w), high=w / p, prob_high=torch.full_like(w, p))


def layer_grid(max_abs: float, bits: int) -> UniformGrid:
    return UniformGrid.symmetric(max_abs, bits)
