"""Figures of the width experiment, drawn from its summary table (never from models).

Delta and the task score against width, log-scaled width, one panel per set-up (and per bit
width for quantization), the greedy compressor's 2.5-97.5 % band shaded, baselines as lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.ticker import NullFormatter

from tomoprune.plots.common import color, new_figure, save_png

ORDER = ("greedy", "magnitude", "wanda", "sparsegpt", "ls-refit", "rtn", "gptq")


def _panel(ax, rows, field: str, log_y: bool) -> None:
    methods = [m for m in ORDER if any(r["method"] == m for r in rows)]
    for i, method in enumerate(methods):
        points = sorted((r for r in rows if r["method"] == method), key=lambda r: int(r["width"]))
        widths = [int(r["width"]) for r in points]
        mean = [float(r[f"{field}_mean"]) for r in points]
        ax.plot(widths, mean, marker="o", ms=3, color=color(i), label=method)
        if method == "greedy":
            lo = [float(r[f"{field}_lo"]) for r in points]
            hi = [float(r[f"{field}_hi"]) for r in points]
            ax.fill_between(widths, lo, hi, color=color(i), alpha=0.2, lw=0)
    if field == "score":
        dense = sorted(
            (int(r["width"]), float(r["dense_score_mean"])) for r in rows if r["method"] == "greedy"
        )
        if dense:
            ax.plot(*zip(*dense, strict=True), ls="--", color="black", lw=1, label="dense")
    ax.legend(fontsize=7)
    ax.set_xscale("log")
    # ticks at the measured widths, as plain numbers (a log axis over 20 .. 100 would
    # otherwise label 2x10^1, 3x10^1, ...)
    ticks = sorted({int(r["width"]) for r in rows})
    ax.set_xticks(ticks, [str(t) for t in ticks], fontsize=7)
    ax.xaxis.set_minor_formatter(NullFormatter())
    if log_y:
        ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")


def plot_width_figures(
    table: list[dict[str, Any]], out: str | Path, *, title: str, kind: str
) -> list[Path]:
    """Write delta/score figures for pruning (per architecture) and quantization (per bits)."""
    out = Path(out)
    score_name = "accuracy" if kind == "classification" else "R^2"
    paths: list[Path] = []
    prune_keys = sorted({(r["architecture"], r["setup"]) for r in table if r["mode"] == "prune"})
    quant_keys = sorted({(r["setup"], str(r["bits"])) for r in table if r["mode"] == "quant"})
    for field, label, log_y in (("delta", "Delta", True), ("score", score_name, False)):
        if prune_keys:
            fig, axes = new_figure(1, len(prune_keys), size=(4.0 * len(prune_keys), 3.6))
            for ax, (arch, setup) in zip(axes[0], prune_keys, strict=True):
                rows = [
                    r for r in table
                    if r["mode"] == "prune" and r["architecture"] == arch and r["setup"] == setup
                ]  # fmt: skip
                _panel(ax, rows, field, log_y)
                ax.set_title(f"{title}: prune {setup} ({arch})", fontsize=9)
                ax.set_xlabel("width")
                ax.set_ylabel(label)
            paths.append(save_png(fig, out / f"width_prune_{field}.png"))
        if quant_keys:
            setups = sorted({s for s, _ in quant_keys})
            bits = sorted({b for _, b in quant_keys}, key=int)
            fig, axes = new_figure(
                len(setups), len(bits), size=(3.4 * len(bits), 3.0 * len(setups))
            )
            for i, setup in enumerate(setups):
                for j, b in enumerate(bits):
                    rows = [
                        r for r in table
                        if r["mode"] == "quant" and r["setup"] == setup and str(r["bits"]) == b
                    ]  # fmt: skip
                    _panel(axes[i][j], rows, field, log_y)
                    axes[i][j].set_title(f"{title}: quant {setup}, {b} bits", fontsize=9)
                    axes[i][j].set_xlabel("width")
                    axes[i][j].set_ylabel(label)
            paths.append(save_png(fig, out / f"width_quant_{field}.png"))
    return paths
