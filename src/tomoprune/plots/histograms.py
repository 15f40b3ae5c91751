"""Histograms of the measurement vectors of chosen cycles, both layers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tomoprune.analysis.entropy import EntropySettings
from tomoprune.analysis.runs import MEASUREMENT_LAYERS, RunRecords
from tomoprune.plots.common import color, new_figure, save_png


def plot_measurement_histograms(
    run: RunRecords,
    path: str | os.PathLike[str],
    *,
    indices: Sequence[int] = (5, 10, 15, 20),
    paper_range: EntropySettings | None = None,
) -> Path:
    """Rows: layers; columns: the cycles at 0-based positions ``indices`` of the run.

    Bins are numpy's ``"auto"`` rule so that a handful of values stays visible; dashed lines
    mark the paper's fixed bin range (values beyond it do not count in its entropy), and each
    title gives the share outside it.
    """
    rows = [m for m in (run.measurements or ()) if m is not None]
    chosen = [rows[i] for i in indices if 0 <= i < len(rows)]
    ncols = max(1, len(chosen))
    fig, axes = new_figure(2, ncols, size=(3.2 * ncols + 1.0, 6.0))
    rng = paper_range or EntropySettings()
    low, high = rng.paper_low, rng.paper_high - rng.paper_width  # last edge of np.arange
    for r, layer in enumerate(MEASUREMENT_LAYERS):
        for c in range(ncols):
            ax = axes[r, c]
            if not chosen:
                ax.text(0.5, 0.5, "no measurements", ha="center", transform=ax.transAxes)
                continue
            m = chosen[c]
            v = m.measurements[layer]
            if v is None or v.size == 0 or not np.all(np.isfinite(v)):
                ax.text(0.5, 0.5, "no usable vector", ha="center", transform=ax.transAxes)
            else:
                ax.hist(v, bins="auto", color=color(r), alpha=0.8, edgecolor="white")
                outside = float(np.mean((v < low) | (v > high)))  # histogram closes the last bin
                ax.axvline(low, ls="--", color="grey", lw=1)
                ax.axvline(high, ls="--", color="grey", lw=1)
                ax.set_title(
                    f"cycle {m.cycle}, n={v.size}\n{outside:.0%} outside [{low:g}, {high:g}]",
                    fontsize="small",
                )
            ax.set_xlabel(f"{layer.replace('_', ' ')} measurement")
            if c == 0:
                ax.set_ylabel("count")
    fig.suptitle(f"Measurement histograms of {run.name} (dashed: paper bin range)")
    return save_png(fig, path)
