"""The contract every post-training compressor fulfils, and the family's registry.

A compressor is a frozen settings dataclass (``tomoprune.plugins.Settings``) registered in
``POSTTRAINING`` that compresses one layer at a time: ``compress_layer(problem, context)``
receives the layer's weight as a (rows, columns) matrix -- rows are output units, columns the
inputs the weight multiplies (unfolded patches for convolutions) -- and the calibration second
moment ``H = E[x x^T]`` of those inputs, and returns the new matrix (plus the quantization
state or mask that an export needs). The driver (``driver.compress_``) finds the layers, feeds
the calibration data and writes the results back. The settings classes and ``POSTTRAINING``
are in ``settings`` (no torch); this module holds what ``compress_layer`` is given and returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from tomoprune.errors import ConfigError
from tomoprune.posttraining.grid import QuantState
from tomoprune.posttraining.settings import POSTTRAINING, Compressor, Pruner, parse_nm

__all__ = [
    "POSTTRAINING",
    "Compressor",
    "LayerContext",
    "LayerProblem",
    "LayerResult",
    "Pruner",
    "parse_nm",
]


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
