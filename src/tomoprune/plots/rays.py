"""Weight rays, as the paper plots them: mean(|score|) / len(score) per cycle (step plot)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tomoprune.analysis.rays import mean_abs_over_len
from tomoprune.analysis.runs import RunRecords
from tomoprune.plots.common import color, new_figure, save_png


def plot_weight_rays(runs: Sequence[RunRecords], path: str | os.PathLike[str]) -> Path:
    """Step plot of mean(|score|)/len(score) against the sparsity reached in that cycle."""
    fig, axes = new_figure()
    ax = axes[0, 0]
    drawn = 0
    for i, run in enumerate(runs):
        if run.measurements is None:
            continue
        rows = run.measurement_rows()
        y = np.array(
            [np.nan if m is None else (mean_abs_over_len(m.scores) or np.nan) for m in rows]
        )
        ok = np.isfinite(y) & np.isfinite(run.sparsity)
        if not ok.any():
            continue
        ax.step(run.sparsity[ok], y[ok], where="mid", color=color(i), label=f"{run.name}")
        ax.plot(run.sparsity[ok], y[ok], ".", color=color(i))
        drawn += 1
    ax.set_xlabel("sparsity after the cycle")
    ax.set_ylabel("mean(|score|) / len(score)")
    ax.set_title("Weight rays per cycle")
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no run recorded scores", ha="center", transform=ax.transAxes)
    return save_png(fig, path)
