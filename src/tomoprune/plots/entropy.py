"""Gibbs entropy of both measurement vectors against sparsity."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tomoprune.analysis.entropy import EntropySettings, entropy_series, values_of
from tomoprune.analysis.runs import MEASUREMENT_LAYERS, RunRecords
from tomoprune.plots.common import color, new_figure, save_png

LOG_NAMES = {"2": "log2", "e": "ln", "10": "log10"}


def plot_entropy(
    runs: Sequence[RunRecords],
    path: str | os.PathLike[str],
    *,
    settings: Mapping[str, EntropySettings],
) -> Path:
    """One panel per layer; undefined cycles are marked with an x on the axis."""
    fig, axes = new_figure(1, 2, size=(11.0, 4.5))
    for j, layer in enumerate(MEASUREMENT_LAYERS):
        ax = axes[0, j]
        es = settings[layer]
        for i, run in enumerate(runs):
            if run.measurements is None:
                continue
            rows = run.measurement_rows()
            g = values_of(
                entropy_series([None if m is None else m.measurements[layer] for m in rows], es)
            )
            ok = np.isfinite(g)
            ax.plot(run.sparsity[ok], g[ok], "o-", ms=4, color=color(i), label=run.name)
            bad = ~ok & np.isfinite(run.sparsity)
            if bad.any():
                ax.plot(
                    run.sparsity[bad],
                    np.zeros(bad.sum()),
                    "x",
                    ms=8,
                    color=color(i),
                    label=f"{run.name}: undefined ({bad.sum()} cycles)",
                )
        ax.set_xlabel("sparsity")
        ax.set_ylabel(f"Gibbs entropy ({LOG_NAMES[es.base]})")
        ax.set_title(f"{layer.replace('_', ' ')} measurements ({es.binning} bins)")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    fig.suptitle("Gibbs entropy of the measurement vectors")
    return save_png(fig, path)
