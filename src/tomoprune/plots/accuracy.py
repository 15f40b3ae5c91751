"""Test accuracy against sparsity: raw points and LOWESS curves, one colour per run."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tomoprune.analysis.runs import RunRecords
from tomoprune.analysis.smoothing import lowess
from tomoprune.plots.common import color, new_figure, save_png


def plot_accuracy(
    runs: Sequence[RunRecords],
    path: str | os.PathLike[str],
    *,
    frac: float = 0.3,
    min_sparsity: float | None = None,
) -> Path:
    """Accuracy vs sparsity for several runs; ``min_sparsity`` draws only the tail (close-up).

    The LOWESS curve is fitted on the whole run, then cut to the shown range, so the close-up
    shows the same curve as the full figure.
    """
    fig, axes = new_figure()
    ax = axes[0, 0]
    for i, run in enumerate(runs):
        s, acc = run.sparsity, run.test_accuracy
        fit = lowess(s, acc, frac)
        show = np.isfinite(s) & np.isfinite(acc)
        if min_sparsity is not None:
            show &= s >= min_sparsity
        order = np.argsort(s[show])
        label = run.name if run.name == run.method else f"{run.name} ({run.method})"
        ax.plot(s[show], acc[show], "o", ms=4, alpha=0.55, color=color(i), label=f"{label}, raw")
        ax.plot(
            s[show][order], fit[show][order], "-", lw=2, color=color(i), label=f"{label}, LOWESS"
        )
    ax.set_xlabel("sparsity (share of hidden units removed)")
    ax.set_ylabel("test accuracy")
    if min_sparsity is None:
        ax.set_title(f"Test accuracy vs sparsity (LOWESS frac {frac:g})")
    else:
        ax.set_title(f"Test accuracy vs sparsity above {min_sparsity:g} (LOWESS frac {frac:g})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower left")
    return save_png(fig, path)
