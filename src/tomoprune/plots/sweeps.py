"""Figures of a sweep: accuracy against sparsity with 95 % bands per method (published points
overlaid), and one ablation panel per axis."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tomoprune.plots.common import color, new_figure, save_png
from tomoprune.statistics import high_level_mean, t_interval

METHOD_COLORS = {"magnitude": 0, "random": 1, "dtc": 2}
METHOD_LABELS = {"magnitude": "magnitude", "random": "random", "dtc": "DTC"}


def _method_color(method: str) -> str:
    return color(METHOD_COLORS.get(method, 3 + hash(method) % 6))


def _profile(setting_values: dict[str, Any], sweep: dict[str, Any]) -> str:
    return str(setting_values.get("profile", sweep["spec"]["base"].get("profile", "corrected")))


# published points: method -> (sparsity levels, published accuracies), e.g. the DTC paper's
# Table 1 (``reproduce.paper.published_points``); drawn only beside reference-profile runs
Published = dict[str, tuple[list[float], list[float]]]


def accuracy_band_figures(
    rows: Sequence[dict[str, Any]],
    folder: Path,
    sweep: dict[str, Any],
    *,
    slug_of: Callable[[tuple[tuple[str, Any], ...]], str],
    published: Published | None = None,
) -> list[str]:
    """One figure per setting: raw and LOWESS accuracy, mean and 95 % band per method.

    ``slug_of`` names a setting's file (the sweep's ``setting_slug``); ``published`` points,
    when given, are overlaid on the LOWESS panel of reference-profile settings.
    """
    axis_keys = [k for k in sweep["spec"]["axes"] if k != "method"]
    by_setting: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_setting.setdefault(row["setting"], []).append(row)
    paths = []
    for label, group in by_setting.items():
        values = {k: group[0].get(k) for k in axis_keys}
        fig, axes = new_figure(1, 2, size=(12.0, 4.6))
        for ax, quantity in zip(axes[0], ("raw", "lowess"), strict=True):
            methods = list(dict.fromkeys(r["method"] for r in group))
            for method in methods:
                sel = [r for r in group if r["method"] == method and r["quantity"] == quantity]
                x = np.array([r["sparsity"] for r in sel], dtype=float)
                mean = np.array([np.nan if r["mean"] is None else r["mean"] for r in sel])
                low = np.array([np.nan if r["ci_low"] is None else r["ci_low"] for r in sel])
                high = np.array([np.nan if r["ci_high"] is None else r["ci_high"] for r in sel])
                n = max((r["n"] for r in sel), default=0)
                c = _method_color(method)
                ax.plot(
                    x,
                    mean,
                    "-",
                    color=c,
                    lw=1.6,
                    label=f"{METHOD_LABELS.get(method, method)} (n={n})",
                )
                ax.fill_between(x, low, high, color=c, alpha=0.22, lw=0)
                if (
                    quantity == "lowess"
                    and published is not None
                    and method in published
                    and _profile(values, sweep) == "reference"
                ):
                    px, py = published[method]
                    ax.plot(px, py, "o", color=c, mfc="white", ms=5, mew=1.4)
            if quantity == "lowess" and published is not None:
                ax.plot([], [], "o", color="black", mfc="white", label="published Table 1")
            ax.set_xlabel("sparsity (share of hidden units removed)")
            ax.set_ylabel("test accuracy")
            ax.set_title(
                ("raw accuracy" if quantity == "raw" else "LOWESS (frac 0.3), as Table 1")
                + ": mean, 95 % t band"
            )
            ax.set_ylim(max(0.0, float(np.nanmin([r["ci_low"] or 1 for r in group])) - 0.02), 1.0)
            ax.grid(alpha=0.3)
            ax.legend(loc="lower left", fontsize=8)
        fig.suptitle(f"{sweep['spec']['name']}: {label}")
        slug = slug_of(tuple(values.items()))
        path = save_png(fig, folder / f"accuracy_{slug}.png")
        paths.append(str(Path(folder.name) / path.name))
    return paths


def _ci(values: Sequence[float]) -> tuple[float, float, float]:
    ci = t_interval(values)
    mean = np.nan if ci.mean is None else ci.mean
    low = mean if ci.low is None else ci.low
    high = mean if ci.high is None else ci.high
    return mean, mean - low, high - mean


def ablation_figures(
    series: Sequence[Any],
    sweep: dict[str, Any],
    gibbs_pooled: Sequence[dict[str, Any]],
    folder: Path,
    *,
    cut: float = 0.85,
) -> list[str]:
    """Per axis (other than method): accuracy above the sparsity ``cut`` per value and method,
    with 95 % intervals over seeds; for the binning analysis axis, the pooled Gibbs
    correlation."""
    paths = []
    for axis, values in sweep["spec"]["axes"].items():
        if axis == "method" or len(values) < 2:
            continue
        methods = list(dict.fromkeys(s.method for s in series))
        fig, axes = new_figure(1, 2, size=(12.0, 4.4))
        ax, curves = axes[0]
        width = 0.8 / max(1, len(methods))
        for j, method in enumerate(methods):
            stats_per_value = []
            for value in values:
                picked = [
                    s for s in series if s.method == method and dict(s.setting).get(axis) == value
                ]
                stats_per_value.append(
                    _ci([high_level_mean(s.sparsity, s.raw, cut) for s in picked])
                )
            x = np.arange(len(values)) + (j - (len(methods) - 1) / 2) * width
            mean, lo, hi = (np.array(v) for v in zip(*stats_per_value, strict=True))
            ax.errorbar(
                x,
                mean,
                yerr=[lo, hi],
                fmt="o",
                capsize=4,
                color=_method_color(method),
                label=METHOD_LABELS.get(method, method),
            )
        ax.set_xticks(np.arange(len(values)), [str(v) for v in values])
        ax.set_xlabel(axis)
        ax.set_ylabel(f"mean raw test accuracy above {cut} sparsity")
        ax.set_title("mean and 95 % t interval over seeds")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        focus = "dtc" if "dtc" in methods else methods[0]
        for k, value in enumerate(values):
            picked = [s for s in series if s.method == focus and dict(s.setting).get(axis) == value]
            if not picked:
                continue
            length = min(len(s.raw) for s in picked)
            mean = np.nanmean([s.lowess[:length] for s in picked], axis=0)
            curves.plot(picked[0].sparsity[:length], mean, "-", color=color(k), label=f"{value}")
        curves.set_xlabel("sparsity")
        curves.set_ylabel("test accuracy (LOWESS), mean over seeds")
        curves.set_title(f"{METHOD_LABELS.get(focus, focus)}: accuracy curve per {axis}")
        curves.grid(alpha=0.3)
        curves.legend(fontsize=8, title=axis)
        fig.suptitle(f"{sweep['spec']['name']}: ablation over {axis}")
        path = save_png(fig, folder / f"ablation_{axis.rsplit('.', 1)[-1]}.png")
        paths.append(str(Path(folder.name) / path.name))
    binnings = sweep["spec"].get("analysis", {}).get("binning", [])
    if len(binnings) >= 2 and gibbs_pooled:
        fig, axes = new_figure(1, 1, size=(7.0, 4.4))
        ax = axes[0][0]
        methods = list(dict.fromkeys(g["accuracy_method"] for g in gibbs_pooled))
        width = 0.8 / max(1, len(methods))
        for j, method in enumerate(methods):
            rows = [
                next(
                    (
                        g
                        for g in gibbs_pooled
                        if g["binning"] == b and g["accuracy_method"] == method
                    ),
                    None,
                )
                for b in binnings
            ]
            mean = np.array(
                [np.nan if r is None or r["mean_r"] is None else r["mean_r"] for r in rows]
            )
            lo = np.array(
                [0 if r is None or r["ci_low"] is None else r["mean_r"] - r["ci_low"] for r in rows]
            )
            hi = np.array(
                [
                    0 if r is None or r["ci_high"] is None else r["ci_high"] - r["mean_r"]
                    for r in rows
                ]
            )
            x = np.arange(len(binnings)) + (j - (len(methods) - 1) / 2) * width
            ax.errorbar(
                x,
                mean,
                yerr=[lo, hi],
                fmt="o",
                capsize=4,
                color=_method_color(method),
                label=f"accuracy of {METHOD_LABELS.get(method, method)}",
            )
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(np.arange(len(binnings)), binnings)
        ax.set_xlabel("histogram binning of the next-layer measurements")
        ax.set_ylabel("Pearson r, DTC entropy vs LOWESS accuracy")
        ax.set_title("Gibbs correlation: mean and 95 % t interval over seeds")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        path = save_png(fig, folder / "ablation_binning.png")
        paths.append(str(Path(folder.name) / path.name))
    return paths
