"""Uniform quantization grids shared by every post-training quantizer (GPTQ, RTN, SparseGPT+q).

A grid maps a weight w of output row r to the integer code
``q = clamp(round(w / scale + zero), 0, 2**bits - 1)`` and back to ``scale * (q - zero)``. The
scale and zero point are fitted per tensor, per output channel (row) or per group of
``group_size`` consecutive input columns of each row, as GPTQ (Frantar et al., 2023) and its
reference implementation do:

- ``asymmetric``: the range [min(w, 0), max(w, 0)] is split into ``2**bits - 1`` steps and the
  zero point is the (integer) code of 0, so 0 is always exactly representable;
- ``symmetric``: the range is [-max|w|, max|w|] and the zero point the middle code
  ``2**(bits - 1)`` (the grid has one more level below 0 than above it);
- ``span``: the paper grid S_l of El Cheairi et al.: ``2**bits`` levels from -M to M with M the
  largest |w| (zero point ``(2**bits - 1) / 2``, not an integer; 0 is not on the grid for
  even level counts). It is the grid of the randomized greedy quantizer, so GPTQ and RTN can be
  compared with it on its own terms; ``span_radius`` fixes M (one grid shared by all layers).

A row or group whose range is empty gets the range [-1, 1] (its weights are 0 and stay 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tomoprune.posttraining.settings import GridKind


@dataclass(frozen=True)
class GridSpec:
    """What to fit: bit width, kind and granularity (``per_channel``, ``group_size``)."""

    bits: int
    kind: GridKind = "asymmetric"
    per_channel: bool = True
    group_size: int | None = None
    span_radius: float | None = None

    @property
    def maxq(self) -> int:
        return 2**self.bits - 1

    def fit(self, w: torch.Tensor) -> RowGrid:
        """Scales and zero points for the rows of ``w`` (rows, columns) taken as one group.

        Per tensor: one scale for all rows (fitted on the whole of ``w``), repeated per row.
        """
        w = w.detach()
        if self.per_channel:
            # amin/amax: no arg-indices, and fast on the transposed views the sweeps pass
            low = w.amin(dim=1).clamp(max=0)
            high = w.amax(dim=1).clamp(min=0)
        else:
            low = w.min().clamp(max=0).expand(w.shape[0])
            high = w.max().clamp(min=0).expand(w.shape[0])
        maxq = self.maxq
        if self.kind == "span":
            radius = torch.maximum(low.abs(), high)
            if self.span_radius is not None:
                radius = torch.full_like(radius, self.span_radius)
            radius = torch.where(radius > 0, radius, torch.ones_like(radius))
            scale = 2 * radius / maxq
            zero = torch.full_like(scale, maxq / 2)
            return RowGrid(scale=scale, zero=zero, maxq=maxq)
        if self.kind == "symmetric":
            high = torch.maximum(low.abs(), high)
            low = torch.where(low < 0, -high, torch.zeros_like(high))
        empty = (low == 0) & (high == 0)
        low = torch.where(empty, -torch.ones_like(low), low)
        high = torch.where(empty, torch.ones_like(high), high)
        scale = (high - low) / maxq
        if self.kind == "symmetric":
            zero = torch.full_like(scale, (maxq + 1) / 2)
        else:
            zero = torch.round(-low / scale)
        return RowGrid(scale=scale, zero=zero, maxq=maxq)


@dataclass(frozen=True)
class RowGrid:
    """One grid per output row: ``scale`` and ``zero`` have shape (rows,)."""

    scale: torch.Tensor
    zero: torch.Tensor
    maxq: int

    def codes(self, w: torch.Tensor) -> torch.Tensor:
        """Integer codes of ``w`` (rows,) or (rows, k), nearest grid value (ties to even)."""
        scale, zero = self._shaped(w)
        return torch.div(w, scale).add_(zero).round_().clamp_(0, self.maxq)

    def values(self, codes: torch.Tensor) -> torch.Tensor:
        scale, zero = self._shaped(codes)
        return scale * (codes - zero)

    def quantize(self, w: torch.Tensor) -> torch.Tensor:
        """Round-to-nearest onto the grid, in w's dtype."""
        return self.values(self.codes(w)).to(w.dtype)

    def _shaped(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale = self.scale.to(like.dtype)
        zero = self.zero.to(like.dtype)
        if like.dim() == 2:
            return scale[:, None], zero[:, None]
        return scale, zero


@dataclass
class QuantState:
    """Everything an export needs to store a quantized (rows, columns) weight exactly.

    ``scales`` and ``zeros`` are (rows, groups); ``group_index`` gives each input column's group
    (act-order without static groups makes it non-monotone); ``codes`` are the integer codes.
    """

    bits: int
    codes: torch.Tensor  # (rows, columns) int
    scales: torch.Tensor  # (rows, groups)
    zeros: torch.Tensor  # (rows, groups)
    group_index: torch.Tensor  # (columns,) int

    def dequantize(self) -> torch.Tensor:
        rows, columns = self.codes.shape
        groups = self.scales.shape[1]
        codes = self.codes.to(self.scales.dtype)
        if columns % groups == 0:
            size = columns // groups
            contiguous = torch.arange(columns, device=codes.device) // size
            if torch.equal(self.group_index, contiguous):  # broadcast instead of a gather
                grouped = codes.reshape(rows, groups, size)
                scale, zero = self.scales[:, :, None], self.zeros[:, :, None]
                return (scale * (grouped - zero)).reshape(rows, columns)
        scale = self.scales[:, self.group_index]
        zero = self.zeros[:, self.group_index]
        return scale * (codes - zero)


def grid_groups(columns: int, group_size: int | None) -> list[tuple[int, int]]:
    """Column ranges that share one grid: the whole row, or consecutive groups."""
    size = group_size or columns
    return [(start, min(columns, start + size)) for start in range(0, columns, size)]


def round_to_nearest(w: torch.Tensor, spec: GridSpec) -> QuantState:
    """Fit the grid per group on ``w`` (rows, columns) and round every entry to nearest."""
    groups = grid_groups(w.shape[1], spec.group_size)
    if len(groups) == 1:  # one grid per row (or per tensor): no per-group copies
        grid = spec.fit(w)
        return QuantState(
            bits=spec.bits,
            codes=grid.codes(w).to(torch.int32),
            scales=grid.scale[:, None],
            zeros=grid.zero[:, None],
            group_index=torch.zeros(w.shape[1], dtype=torch.long, device=w.device),
        )
    codes = torch.empty_like(w)
    scales, zeros = [], []
    group_index = torch.empty(w.shape[1], dtype=torch.long, device=w.device)
    for g, (start, stop) in enumerate(groups):
        grid = spec.fit(w[:, start:stop])
        codes[:, start:stop] = grid.codes(w[:, start:stop])
        scales.append(grid.scale)
        zeros.append(grid.zero)
        group_index[start:stop] = g
    return QuantState(
        bits=spec.bits,
        codes=codes.to(torch.int32),
        scales=torch.stack(scales, 1),
        zeros=torch.stack(zeros, 1),
        group_index=group_index,
    )
