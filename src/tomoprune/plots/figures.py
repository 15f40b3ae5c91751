"""Draw every figure of an analysis into one folder and list them."""

from __future__ import annotations

import os
from pathlib import Path

from tomoprune.analysis.gibbs import Analysis
from tomoprune.analysis.runs import MEASUREMENT_LAYERS
from tomoprune.plots.accuracy import plot_accuracy
from tomoprune.plots.entropy import plot_entropy
from tomoprune.plots.histograms import plot_measurement_histograms
from tomoprune.plots.nullmodel import plot_null_overlay
from tomoprune.plots.rays import plot_weight_rays


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def write_figures(
    analysis: Analysis, fig_dir: str | os.PathLike[str], *, relative_to: str | os.PathLike[str]
) -> list[str]:
    """Write the PNGs of ``analysis`` into ``fig_dir``; return their paths relative to a folder.

    Figures: accuracy vs sparsity (full and close-up), and for runs with measurements the weight
    rays, the entropy of both layers, measurement histograms and the null-model overlay.
    """
    fig_dir = Path(fig_dir)
    settings = analysis.settings
    runs = [ra.run for ra in analysis.runs]
    paths = [
        plot_accuracy(runs, fig_dir / "accuracy_vs_sparsity.png", frac=settings.frac),
        plot_accuracy(
            runs,
            fig_dir / "accuracy_vs_sparsity_tail.png",
            frac=settings.frac,
            min_sparsity=settings.zoom_sparsity,
        ),
    ]
    with_measurements = [ra for ra in analysis.runs if ra.entropy is not None]
    if with_measurements:
        dtc_runs = [ra.run for ra in with_measurements]
        paths.append(plot_weight_rays(dtc_runs, fig_dir / "weight_rays.png"))
        paths.append(
            plot_entropy(
                dtc_runs,
                fig_dir / "gibbs_entropy.png",
                settings={layer: settings.entropy(layer) for layer in MEASUREMENT_LAYERS},
            )
        )
        for ra in with_measurements:
            slug = _slug(ra.run.name)
            paths.append(
                plot_measurement_histograms(
                    ra.run,
                    fig_dir / f"measurement_histograms_{slug}.png",
                    indices=settings.histogram_indices,
                    paper_range=settings.next_layer,
                )
            )
            nulls = {
                (layer, kind): null
                for (run, layer, kind), null in analysis.nulls.items()
                if run == ra.run.name
            }
            paths.append(
                plot_null_overlay(
                    ra.run,
                    fig_dir / f"null_model_{slug}.png",
                    observed=ra.entropy,
                    nulls=nulls,
                )
            )
    base = Path(relative_to)
    return [str(p.relative_to(base)) if p.is_relative_to(base) else str(p) for p in paths]
