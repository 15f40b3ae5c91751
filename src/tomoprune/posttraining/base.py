"""The contract every post-training compressor fulfils, and the family's registry.

A compressor is a frozen settings dataclass (``tomoprune.plugins.Settings``) registered in
``POSTTRAINING`` that compresses one layer at a time: ``compress_layer(problem, context)``
receives the layer's weight as a (rows, columns) matrix -- rows are output units, columns the
inputs the weight multiplies (unfolded patches for convolutions) -- and the calibration second
moment ``H = E[x x^T]`` of those inputs, and returns the new matrix (plus the quantization
state or mask that an export needs). The driver (``driver.compress_``) finds the layers, feeds
the calibration data and writes the results back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from tomoprune.errors import ConfigError
from tomoprune.plugins import Interval, PluginRegistry, Settings
from tomoprune.posttraining.grid import QuantState

__all__ = ["POSTTRAINING", "Compressor", "LayerContext", "LayerProblem", "LayerResult"]


@dataclass
class LayerProblem:
    """One layer to compress: its name, weight matrix and calibration statistics."""

    name: str
    weight: torch.Tensor  # (rows, columns), the layer's dtype
    hessian: torch.Tensor | None  # (columns, columns) float64, E[x x^T]; None without data
    samples: int  # input vectors behind ``hessian`` (batch x tokens x positions)

    @property
    def energy(self) -> torch.Tensor:
        """E[x_j^2] per input column (the Hessian's diagonal)."""
        assert self.hessian is not None
        return self.hessian.diagonal()


@dataclass
class LayerResult:
    """The compressed matrix, and what an exact export of it needs."""

    weight: torch.Tensor  # (rows, columns)
    quant: QuantState | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class LayerContext:
    """Run-wide state a compressor may use: one seeded generator for every random draw."""

    rng: np.random.Generator


class Compressor(Settings):
    """Base of the post-training compressors' settings.

    ``needs_calibration``: whether ``compress_layer`` reads ``problem.hessian`` (RTN and
    magnitude do not, and run without data). ``bits`` (None: no quantization) tells exports
    what was done.
    """

    needs_calibration: ClassVar[bool] = True

    def compress_layer(self, problem: LayerProblem, context: LayerContext) -> LayerResult:
        raise NotImplementedError

    def check_layer(self, problem: LayerProblem) -> None:
        """Raise ConfigError when the settings cannot apply to this layer's shape."""

    @property
    def quant_bits(self) -> int | None:
        return getattr(self, "bits", None)


POSTTRAINING: PluginRegistry[Compressor] = PluginRegistry("post-training compressor")


@dataclass(frozen=True, kw_only=True)
class Pruner(Compressor):
    """Base of the pruners' settings: a ``sparsity`` share, or an ``nm`` pattern ("2:4", kept N
    of every M input columns) that replaces it."""

    sparsity: float = 0.5
    nm: Any = None  # "N:M", [N, M] or None; stored as (N, M)

    constraints = {"sparsity": Interval(0, 1, closed="left")}

    def __post_init__(self) -> None:
        object.__setattr__(self, "nm", parse_nm(self.nm, "nm", type(self).__name__))
        super().__post_init__()

    @property
    def density(self) -> float:
        return self.nm[0] / self.nm[1] if self.nm is not None else 1.0 - self.sparsity

    def check_layer(self, problem: LayerProblem) -> None:
        if self.nm is not None and problem.weight.shape[1] % self.nm[1]:
            raise ConfigError(
                f"layer {problem.name} has {problem.weight.shape[1]} input columns, not a "
                f"multiple of M = {self.nm[1]}; leave it out of the layer patterns for N:M."
            )


def parse_nm(value: Any, setting: str, owner: str) -> tuple[int, int] | None:
    """N:M sparsity as (kept N, group size M) from "2:4", [2, 4] or (2, 4); None passes."""
    if value is None:
        return None
    parts: Any = value.split(":") if isinstance(value, str) else value
    try:
        n, m = (int(p) for p in parts)
    except (TypeError, ValueError):
        n = m = -1
    if not 0 < n < m:
        raise ConfigError(
            f"The '{setting}' setting of {owner} must be 'N:M' with 0 < N < M (N weights kept "
            f"in every M consecutive inputs, e.g. '2:4'). Got {value!r} instead."
        )
    return n, m


def dead_inputs(hessian: torch.Tensor) -> torch.Tensor:
    """Input columns that were always zero on the calibration data."""
    return hessian.diagonal() == 0


def damped_inverse_factor(
    hessian: torch.Tensor, damp: float, name: str, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Upper Cholesky factor U of (H + damp * mean(diag H) I)^-1, in ``dtype``.

    Row j of U, divided by U_jj, is the OBS update that column j's error spreads over the
    columns after it (Frantar et al.); dead inputs must have been given H_jj = 1 first. When
    the factorisation fails in float32 it is retried in float64 before giving up.
    """
    h = hessian.to(dtype).clone()
    h.diagonal().add_(damp * h.diagonal().mean())
    try:
        lower = torch.linalg.cholesky(h)
        return torch.linalg.cholesky(torch.cholesky_inverse(lower), upper=True)
    except RuntimeError:
        if dtype != torch.float64:
            return damped_inverse_factor(hessian, damp, name).to(dtype)
        raise ConfigError(
            f"layer {name}: the calibration Hessian is not positive definite; raise the 'damp' "
            "setting or use more calibration samples."
        ) from None


def with_dead_inputs_fixed(
    weight_t: torch.Tensor, hessian: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """W^T (columns, rows) with the rows of dead inputs zeroed, H with H_jj = 1 there (copies).

    A weight on an input that is always zero changes nothing on the calibration data, so it is
    removed (it would otherwise take a mask slot or a grid range for nothing), and H_jj = 1
    keeps the Hessian invertible; the SparseGPT and GPTQ reference code do the same.
    """
    dead = dead_inputs(hessian)
    w = weight_t.clone(memory_format=torch.contiguous_format)
    h = hessian.clone()
    w[dead] = 0
    h[dead, dead] = 1
    return w, h


def cumulative_counts(total_columns: int, rows: int, share: float, block: int) -> list[int]:
    """Entries to select in each block of ``block`` columns so the layer total is exact.

    Per block the count is round(share * rows * end) - round(share * rows * start): the layer
    keeps round(share * numel) overall instead of rounding every block on its own.
    """
    counts = []
    for start in range(0, total_columns, block):
        stop = min(total_columns, start + block)
        counts.append(round(share * rows * stop) - round(share * rows * start))
    return counts
