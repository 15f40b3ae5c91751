"""Observed Gibbs entropy against the size-only null models (mean and quantile band)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from tomoprune.analysis.entropy import EntropyResult, values_of
from tomoprune.analysis.nullmodels import NullModelResult
from tomoprune.analysis.runs import MEASUREMENT_LAYERS, RunRecords
from tomoprune.plots.common import new_figure, save_png

NULL_STYLE = {"scale_matched": ("#ff7f0e", "-"), "fixed_scale": ("#7f7f7f", "--")}


def plot_null_overlay(
    run: RunRecords,
    path: str | os.PathLike[str],
    *,
    observed: Mapping[str, list[EntropyResult]],
    nulls: Mapping[tuple[str, str], NullModelResult],
) -> Path:
    """One panel per layer: observed entropy (points) over each null's mean and band.

    ``nulls`` maps ``(layer, kind)`` to a null model computed on this run's vector lengths.
    """
    fig, axes = new_figure(1, 2, size=(11.0, 4.5))
    s = run.sparsity
    for j, layer in enumerate(MEASUREMENT_LAYERS):
        ax = axes[0, j]
        for (lay, kind), null in nulls.items():
            if lay != layer:
                continue
            col, ls = NULL_STYLE.get(kind, ("#9467bd", ":"))
            ok = np.isfinite(null.mean) & np.isfinite(s)
            q0, q1 = null.quantiles
            ax.fill_between(s[ok], null.low[ok], null.high[ok], color=col, alpha=0.2, lw=0)
            ax.plot(
                s[ok],
                null.mean[ok],
                ls,
                color=col,
                label=f"null {kind.replace('_', ' ')}: mean, {q0:g}-{q1:g} band",
            )
        g = values_of(list(observed[layer]))
        ok = np.isfinite(g)
        ax.plot(s[ok], g[ok], "o", ms=4, color="#1f77b4", label="observed")
        ax.set_xlabel("sparsity")
        ax.set_ylabel("Gibbs entropy")
        ax.set_title(f"{layer.replace('_', ' ')}: observed vs size-only null")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(f"{run.name}: how much of the entropy trend vector length alone gives")
    return save_png(fig, path)
