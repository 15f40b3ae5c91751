"""A sweep directory, aggregated over seeds: what the runs say with confidence intervals.

For every setting (the axis values other than seed and method), method and cycle: the mean test
accuracy over seeds with its 95 % t interval, raw and LOWESS-smoothed (frac 0.3, as Table 1).
For every pair of methods: the paired difference over the same seeds per cycle and pooled over
the cycles above 85 % sparsity (per seed, the mean difference over those cycles; then a
bootstrap interval and a Wilcoxon signed-rank test across seeds). For every seed whose group
has a DTC run: the Gibbs correlation of its next-layer entropy with each method's accuracy and
its controls (reusing ``tomoprune.analysis``), then pooled over seeds; the ``binning`` analysis
axis repeats this for each histogram rule. Writes ``DIR/aggregate/``::

    accuracy.csv      setting, method, cycle, sparsity, quantity, n, mean, sd, ci_low, ci_high
    comparisons.csv   setting, a, b, scope (a cycle or "pooled"), quantity, n, mean difference,
                      bootstrap and t intervals, Wilcoxon statistic and p, wins, losses
    gibbs_runs.csv    setting, binning, seed, accuracy method, r and every control
    gibbs_pooled.csv  setting, binning, accuracy method, n, mean r with t interval, Fisher mean
    summary.json      the sentences, the interval methods, every file and figure
    summary.md        the same for a reader
    figures/          accuracy with CI bands per setting; one ablation panel per axis
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tomoprune.analysis.smoothing import lowess
from tomoprune.errors import RecordError
from tomoprune.records.io import atomic_write_csv, atomic_write_json, atomic_write_text
from tomoprune.records.reader import load_run
from tomoprune.records.writer import run_status
from tomoprune.reproduce.paper import LOWESS_FRAC
from tomoprune.sweeps import directory, stats
from tomoprune.sweeps.spec import short_key

HIGH_SPARSITY = 0.85
METHOD_ORDER = ("magnitude", "random", "dtc")
QUANTITIES = ("raw", "lowess")
# the pairs compared, first minus second
PAIRS = (("dtc", "random"), ("dtc", "magnitude"), ("random", "magnitude"))
SKIP_AXES = ("seed", "method")


@dataclass(frozen=True)
class RunSeries:
    name: str
    path: Path
    method: str
    seed: int
    setting: tuple[tuple[str, Any], ...]  # axis values other than seed and method
    sparsity: np.ndarray
    raw: np.ndarray
    lowess: np.ndarray


def setting_label(setting: Sequence[tuple[str, Any]]) -> str:
    return ", ".join(f"{short_key(k)}={v}" for k, v in setting) or "all runs"


def setting_slug(setting: Sequence[tuple[str, Any]]) -> str:
    return "__".join(f"{short_key(k)}={v}" for k, v in setting) or "all"


def _method_rank(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else 99, method)


def load_series(out: Path) -> tuple[list[RunSeries], list[str]]:
    """Every finished run of the sweep as accuracy series; notes on the others."""
    sweep = directory.read_sweep_file(out)
    series, notes = [], []
    for entry in sweep["runs"]:
        path = out / directory.RUNS_DIR / entry["name"]
        if run_status(path) != "finished":
            notes.append(f"{entry['name']}: not finished, left out")
            continue
        record = load_run(path)
        sparsity = record.column("sparsity")
        raw = record.column("test_accuracy")
        axes = entry["axes"]
        setting = tuple((k, v) for k, v in axes.items() if k not in SKIP_AXES)
        series.append(
            RunSeries(
                name=entry["name"],
                path=path,
                method=entry["method"],
                seed=int(entry["seed"]),
                setting=setting,
                sparsity=sparsity,
                raw=raw,
                lowess=lowess(sparsity, raw, LOWESS_FRAC) if len(record.rows) >= 3 else raw.copy(),
            )
        )
    return series, notes


def _groups(series: Sequence[RunSeries]) -> dict[tuple, dict[str, list[RunSeries]]]:
    """setting -> method -> runs (sorted by seed)."""
    groups: dict[tuple, dict[str, list[RunSeries]]] = {}
    for s in series:
        groups.setdefault(s.setting, {}).setdefault(s.method, []).append(s)
    for methods in groups.values():
        for runs in methods.values():
            runs.sort(key=lambda r: r.seed)
    return groups


def _matrix(runs: Sequence[RunSeries], quantity: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(seeds, cycles) accuracy matrix padded with NaN, the reference sparsity and seeds."""
    length = max(len(r.sparsity) for r in runs)
    out = np.full((len(runs), length), np.nan)
    sparsity = np.full(length, np.nan)
    for i, r in enumerate(runs):
        values = r.raw if quantity == "raw" else r.lowess
        out[i, : len(values)] = values
        fill = np.isnan(sparsity[: len(r.sparsity)])
        sparsity[: len(r.sparsity)][fill] = r.sparsity[fill]
    return out, sparsity, [r.seed for r in runs]


def accuracy_rows(groups) -> list[dict[str, Any]]:
    rows = []
    for setting, methods in groups.items():
        for method in sorted(methods, key=_method_rank):
            for quantity in QUANTITIES:
                matrix, sparsity, _ = _matrix(methods[method], quantity)
                for c in range(matrix.shape[1]):
                    ci = stats.t_interval(matrix[:, c])
                    rows.append(
                        {
                            **dict(setting),
                            "setting": setting_label(setting),
                            "method": method,
                            "cycle": c + 1,
                            "sparsity": float(sparsity[c]),
                            "quantity": quantity,
                            "n": ci.n,
                            "mean": ci.mean,
                            "sd": ci.sd,
                            "ci_low": ci.low,
                            "ci_high": ci.high,
                        }
                    )
    return rows


def _by_seed(runs: Sequence[RunSeries], quantity: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    return {r.seed: (r.sparsity, r.raw if quantity == "raw" else r.lowess) for r in runs}


def high_sparsity_mean(sparsity: np.ndarray, values: np.ndarray) -> float:
    """Mean accuracy over the cycles above ``HIGH_SPARSITY`` (NaN when there are none)."""
    keep = sparsity > HIGH_SPARSITY
    return float(np.nanmean(values[keep])) if keep.any() else float("nan")


def comparison_rows(groups) -> list[dict[str, Any]]:
    rows = []
    for setting, methods in groups.items():
        for a, b in PAIRS:
            if a not in methods or b not in methods:
                continue
            for quantity in QUANTITIES:
                sa, sb = _by_seed(methods[a], quantity), _by_seed(methods[b], quantity)
                seeds = sorted(set(sa) & set(sb))
                if not seeds:
                    continue
                base = {
                    **dict(setting),
                    "setting": setting_label(setting),
                    "a": a,
                    "b": b,
                    "quantity": quantity,
                }
                pooled_a = [high_sparsity_mean(*sa[s]) for s in seeds]
                pooled_b = [high_sparsity_mean(*sb[s]) for s in seeds]
                d = stats.paired_difference(pooled_a, pooled_b)
                rows.append(
                    {**base, "scope": f"pooled above {HIGH_SPARSITY}", "cycle": None}
                    | {"sparsity": None, **d.to_dict()}
                )
                length = min(min(len(sa[s][1]), len(sb[s][1])) for s in seeds)
                for c in range(length):
                    d = stats.paired_difference(
                        [sa[s][1][c] for s in seeds], [sb[s][1][c] for s in seeds]
                    )
                    rows.append(
                        {
                            **base,
                            "scope": "cycle",
                            "cycle": c + 1,
                            "sparsity": float(sa[seeds[0]][0][c]),
                            **d.to_dict(),
                        }
                    )
    return rows


def _points(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:+.2f}"


def sentence(row: dict[str, Any], label: str = "") -> str:
    """The answer a reader wants, from a pooled comparison row."""
    a = "DTC" if row["a"] == "dtc" else row["a"]
    b = row["b"]
    where = f" ({label})" if label else ""
    head = f"Above {HIGH_SPARSITY:.0%} sparsity{where}"
    if row["n"] == 0:
        return f"{head}: no cycle of these runs reaches it, so {a} and {b} are not compared there."
    if row["mean"] is None or row["boot_low"] is None:
        return f"{head}: one seed only, so no interval for {a} against {b}."
    p = row["wilcoxon_p"]
    evidence = (
        f"95 % CI [{_points(row['boot_low'])}, {_points(row['boot_high'])}] points, Wilcoxon "
        f"signed-rank p = {'-' if p is None else f'{p:.3g}'}, {a} ahead on {row['wins']} of "
        f"{row['n']} seeds"
    )
    if row["boot_low"] <= 0 <= row["boot_high"]:
        return (
            f"{head}, {a} is not distinguishable from {b}: {a} - {b} = {_points(row['mean'])} "
            f"points of test accuracy ({evidence}), over {row['n']} seeds."
        )
    better = "better" if row["mean"] > 0 else "worse"
    return (
        f"{head}, {a} is {better} than {b} by {abs(100 * row['mean']):.2f} points of test "
        f"accuracy ({evidence}), over {row['n']} seeds."
    )


# -- Gibbs correlation per run and pooled -------------------------------------------------------

GIBBS_FIELDS = (
    "r",
    "permutation_p",
    "bootstrap_low",
    "bootstrap_high",
    "partial_r",
    "partial_p",
    "differences_r",
    "differences_p",
)


def _analysis_settings(binning: str):
    from tomoprune.analysis.entropy import EntropySettings
    from tomoprune.analysis.gibbs import AnalysisSettings

    return AnalysisSettings(
        previous_layer=EntropySettings(base="2", binning=binning),
        next_layer=EntropySettings(base="e", binning=binning),
        n_permutations=1000,
        n_bootstrap=1000,
        n_null_draws=100,
        figures=False,
        # DTC's entropy against every method's accuracy at the same seed, on purpose: the
        # methods that never look at the entropy are the control
        cross_pairs=True,
    )


def gibbs_rows(groups, binnings: Sequence[str]) -> list[dict[str, Any]]:
    """Per seed with a DTC run: next-layer entropy of DTC vs each method's LOWESS accuracy."""
    from tomoprune.analysis.gibbs import analyze_records
    from tomoprune.analysis.runs import load_analysis_run

    rows = []
    for setting, methods in groups.items():
        if "dtc" not in methods:
            continue
        for dtc in methods["dtc"]:
            peers = [dtc] + [
                r for m, runs in methods.items() if m != "dtc" for r in runs if r.seed == dtc.seed
            ]
            records = [load_analysis_run(r.path, name=r.name) for r in peers]
            for binning in binnings:
                analysis = analyze_records(records, _analysis_settings(binning))
                for entry in analysis.correlations:
                    if entry["layer"] != "next_layer" or entry["entropy_run"] != dtc.name:
                        continue
                    controls = entry["controls"]
                    primary = entry["correlations"][entry["primary"]]
                    rows.append(
                        {
                            **dict(setting),
                            "setting": setting_label(setting),
                            "binning": binning,
                            "seed": dtc.seed,
                            "accuracy_method": entry["accuracy_method"],
                            "r": primary.get("r"),
                            "permutation_p": controls["permutation"].get("p_value"),
                            "bootstrap_low": controls["block_bootstrap"].get("low"),
                            "bootstrap_high": controls["block_bootstrap"].get("high"),
                            "partial_r": controls["partial_given_sparsity"].get("r"),
                            "partial_p": controls["partial_given_sparsity"].get("p_value"),
                            "differences_r": controls["differences"].get("r"),
                            "differences_p": controls["differences"].get("p_value"),
                        }
                    )
    return rows


def pooled_gibbs_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    keyed: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        keyed.setdefault((row["setting"], row["binning"], row["accuracy_method"]), []).append(row)
    out = []
    for (setting, binning, method), group in keyed.items():
        rs = [g["r"] if g["r"] is not None else np.nan for g in group]
        plain = stats.t_interval(rs)
        fisher = stats.fisher_interval(rs)
        partial = stats.fisher_interval(
            [g["partial_r"] if g["partial_r"] is not None else np.nan for g in group]
        )
        diffs = stats.t_interval(
            [g["differences_r"] if g["differences_r"] is not None else np.nan for g in group]
        )
        significant = sum(1 for g in group if (g["permutation_p"] or 1.0) < 0.05)
        out.append(
            {
                "setting": setting,
                "binning": binning,
                "accuracy_method": method,
                "n": plain.n,
                "mean_r": plain.mean,
                "ci_low": fisher.low,
                "ci_high": fisher.high,
                "fisher_mean_r": fisher.mean,
                "mean_partial_r": partial.mean,
                "partial_ci_low": partial.low,
                "partial_ci_high": partial.high,
                "mean_differences_r": diffs.mean,
                "permutation_significant": significant,
            }
        )
    return out


# -- the whole directory ------------------------------------------------------------------------


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def _write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    atomic_write_csv(path, _columns(rows) or ["empty"], list(rows))
    return path


def aggregate_sweep(out: str | Path, *, figures: bool = True, gibbs: bool = True) -> dict[str, Any]:
    """Aggregate sweep directory ``out`` into ``out/aggregate``; return the summary document."""
    out = Path(out)
    sweep = directory.read_sweep_file(out)
    series, notes = load_series(out)
    if not series:
        raise RecordError(f"{out}: no finished run to aggregate yet; run the sweep first.")
    dest = out / directory.AGGREGATE_DIR
    dest.mkdir(parents=True, exist_ok=True)
    groups = _groups(series)
    accuracy = accuracy_rows(groups)
    comparisons = comparison_rows(groups)
    binnings = list(sweep["spec"].get("analysis", {}).get("binning", [])) or ["paper"]
    gibbs_run = gibbs_rows(groups, binnings) if gibbs else []
    gibbs_pool = pooled_gibbs_rows(gibbs_run)
    files = {
        "accuracy": _write_csv(dest / "accuracy.csv", accuracy),
        "comparisons": _write_csv(dest / "comparisons.csv", comparisons),
        "gibbs_runs": _write_csv(dest / "gibbs_runs.csv", gibbs_run),
        "gibbs_pooled": _write_csv(dest / "gibbs_pooled.csv", gibbs_pool),
    }
    pooled = [r for r in comparisons if r["scope"].startswith("pooled") and r["quantity"] == "raw"]
    several = len(groups) > 1
    sentences = [sentence(r, r["setting"] if several else "") for r in pooled if r["a"] == "dtc"]
    figure_paths: list[str] = []
    if figures:
        from tomoprune.plots.sweeps import ablation_figures, accuracy_band_figures

        figure_paths += accuracy_band_figures(accuracy, dest / "figures", sweep)
        figure_paths += ablation_figures(series, sweep, gibbs_pool, dest / "figures")
    summary = {
        "out": str(dest),
        "sweep": sweep["spec"],
        "n_runs_finished": len(series),
        "n_runs_listed": len(sweep["runs"]),
        "seeds": sorted({s.seed for s in series}),
        "settings": [setting_label(s) for s in groups],
        "interval": f"{stats.INTERVAL_NAME}, {stats.CONFIDENCE:.0%}",
        "difference_interval": f"{stats.DIFFERENCE_INTERVAL_NAME}, {stats.CONFIDENCE:.0%}, "
        f"{stats.N_BOOTSTRAP} resamples; Wilcoxon signed-rank test (scipy), two-sided",
        "high_sparsity": HIGH_SPARSITY,
        "sentences": sentences,
        "pooled_comparisons": pooled,
        "gibbs_pooled": gibbs_pool,
        "files": {k: str(v) for k, v in files.items()},
        "figures": figure_paths,
        "notes": notes,
    }
    atomic_write_json(dest / "summary.json", summary)
    atomic_write_text(dest / "summary.md", summary_markdown(summary))
    return summary


def _cell(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def summary_markdown(summary: dict[str, Any]) -> str:
    spec = summary["sweep"]
    lines = [
        f"# Sweep {spec['name']}",
        "",
        spec.get("description") or "",
        "",
        f"{summary['n_runs_finished']} of {summary['n_runs_listed']} runs finished; seeds "
        f"{summary['seeds']}. Means over seeds with a {summary['interval']}; paired differences "
        f"with a {summary['difference_interval']}.",
        "",
        "## The answer",
        "",
        *[f"- {s}" for s in summary["sentences"]],
        "",
        f"## Paired differences above {HIGH_SPARSITY} sparsity (raw test accuracy, points)",
        "",
        "| setting | A - B | n | mean | 95 % bootstrap CI | 95 % t CI | Wilcoxon p | A ahead |",
        "|---|---|---:|---:|---|---|---:|---:|",
    ]
    for r in summary["pooled_comparisons"]:
        lines.append(
            f"| {r['setting']} | {r['a']} - {r['b']} | {r['n']} | {_points(r['mean'])} | "
            f"[{_points(r['boot_low'])}, {_points(r['boot_high'])}] | "
            f"[{_points(r['t_low'])}, {_points(r['t_high'])}] | {_cell(r['wilcoxon_p'], 3)} | "
            f"{r['wins']}/{r['n']} |"
        )
    if summary["gibbs_pooled"]:
        lines += [
            "",
            "## Gibbs correlation (next-layer entropy of DTC vs LOWESS accuracy), pooled over seeds",
            "",
            "| setting | binning | accuracy of | n | mean r | 95 % CI (Fisher z) | Fisher mean r | "
            "mean partial r (given sparsity) | seeds with permutation p < 0.05 |",
            "|---|---|---|---:|---:|---|---:|---:|---:|",
        ]
        for g in summary["gibbs_pooled"]:
            lines.append(
                f"| {g['setting']} | {g['binning']} | {g['accuracy_method']} | {g['n']} | "
                f"{_cell(g['mean_r'])} | [{_cell(g['ci_low'])}, {_cell(g['ci_high'])}] | "
                f"{_cell(g['fisher_mean_r'])} | {_cell(g['mean_partial_r'])} | "
                f"{g['permutation_significant']}/{g['n']} |"
            )
    if summary["figures"]:
        lines += ["", "## Figures", "", *[f"![{Path(f).stem}]({f})" for f in summary["figures"]]]
    if summary["notes"]:
        lines += ["", "## Notes", "", *[f"- {n}" for n in summary["notes"]]]
    return "\n".join(lines) + "\n"
