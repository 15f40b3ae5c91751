"""Summaries of an accuracy-against-size curve, and pairing two runs' curves level by level.

Two runs are compared at the *same* network size: their rows are matched by level (sparsity,
or width), and a pair whose schedules differ is an error, not a silent comparison of different
rows. Two summaries per run:

* ``high_level_mean``: the mean over the rows above a declared sparsity cut (the question "what
  happens once the network is small");
* ``area_under_curve``: the trapezoid area under accuracy over a declared sparsity range,
  divided by the range's length (the mean accuracy over the range, weighting each stretch of
  sparsity by its length rather than each recorded row equally, so that a schedule with denser
  rows at high sparsity does not weigh them more).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tomoprune.errors import RecordError

LEVEL_TOLERANCE = 1e-9


class ScheduleMismatch(RecordError):
    """Two runs to be compared recorded different levels (sparsity or width)."""


def paired_by_level(
    levels_a: Any,
    values_a: Any,
    levels_b: Any,
    values_b: Any,
    *,
    names: tuple[str, str] = ("a", "b"),
    what: str = "sparsity",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The common levels and both runs' values on them.

    The shorter schedule must be a prefix of the longer one (a run that stopped early is
    compared on the rows it has); any other difference raises ``ScheduleMismatch`` naming the
    first row where the levels part.
    """
    la, va = np.asarray(levels_a, dtype=float), np.asarray(values_a, dtype=float)
    lb, vb = np.asarray(levels_b, dtype=float), np.asarray(values_b, dtype=float)
    if la.shape != va.shape or lb.shape != vb.shape:
        raise ValueError("each run needs one value per level")
    n = min(la.size, lb.size)
    differ = np.flatnonzero(np.abs(la[:n] - lb[:n]) > LEVEL_TOLERANCE)
    if differ.size:
        i = int(differ[0])
        raise ScheduleMismatch(
            f"{names[0]} and {names[1]} follow different schedules: row {i + 1} has {what} "
            f"{la[i]:.6g} against {lb[i]:.6g}; compare runs with the same schedule."
        )
    return la[:n], va[:n], vb[:n]


def high_level_mean(levels: Any, values: Any, cut: float) -> float:
    """Mean of ``values`` over the rows whose level is above ``cut`` (NaN when none is, or when
    a row there has no value: a missing row is not silently averaged over)."""
    levels, values = np.asarray(levels, dtype=float), np.asarray(values, dtype=float)
    keep = levels > cut
    if not keep.any() or not np.all(np.isfinite(values[keep])):
        return float("nan")
    return float(values[keep].mean())


def area_under_curve(levels: Any, values: Any, low: float, high: float) -> float:
    """Trapezoid area under ``values`` against ``levels`` over ``[low, high]``, divided by
    ``high - low``; the curve is interpolated linearly at the ends. NaN when the recorded
    levels do not span the range or a value inside it is missing."""
    if not high > low:
        raise ValueError(f"the area needs low < high; got [{low}, {high}]")
    x, y = np.asarray(levels, dtype=float), np.asarray(values, dtype=float)
    order = np.argsort(x)
    x, y = x[order], y[order]
    if x.size < 2 or x[0] > low + LEVEL_TOLERANCE or x[-1] < high - LEVEL_TOLERANCE:
        return float("nan")
    inside = (x > low) & (x < high)
    grid = np.concatenate([[low], x[inside], [high]])
    # the rows needed for the interpolation: those inside plus the neighbours of each end
    lo_i = max(int(np.searchsorted(x, low, side="right")) - 1, 0)
    hi_i = min(int(np.searchsorted(x, high, side="left")), x.size - 1)
    if not np.all(np.isfinite(y[lo_i : hi_i + 1])):
        return float("nan")
    curve = np.interp(grid, x, y)
    return float(np.trapezoid(curve, grid) / (high - low))
