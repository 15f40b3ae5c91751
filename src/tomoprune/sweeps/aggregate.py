"""A sweep directory, aggregated over seeds: what the runs say, with the statistics of
``tomoprune.statistics`` and the plan the spec declares (``[statistics]``, see
``tomoprune.sweeps.spec.StatisticsPlan``).

For every setting (the axis values other than seed and method), method and cycle: the mean test
accuracy over seeds with its 95 % t interval and the 95 % prediction interval of one new run,
raw and LOWESS-smoothed (frac 0.3, as Table 1). For every pair of methods the sweep holds (or
the declared pairs), and for the settings of an axis the plan compares (its declared baseline,
or every pair of values in a one-method ablation), per seed the runs are paired level by level
(different schedules are an error) and summarised by the mean accuracy above the declared sparsity cut and by the area under
the curve; the paired t-test over seeds is the primary inference, Holm-adjusted over the family
of primary comparisons, with TOST against the declared margin, the signed-rank test with its
Hodges-Lehmann estimate and a bootstrap-t interval beside it. For every seed whose group has a
DTC run: the Gibbs correlation of its next-layer entropy with each method's accuracy and its
controls (reusing ``tomoprune.analysis``), and the incremental value of entropy over a spline in
log width, tested over seeds. Writes ``DIR/aggregate/``::

    accuracy.csv            setting, method, cycle, sparsity, quantity, n, mean, sd, t interval,
                            prediction interval
    comparisons.csv         setting, a, b, statistic (high_sparsity_mean, area_under_curve or
                            cycle), quantity, primary, every statistic of the comparison
    per_seed.csv            setting, method, seed, quantity, high-sparsity mean, area under curve
    gibbs_runs.csv          setting, binning, seed, accuracy method, r and every control
    gibbs_pooled.csv        setting, binning, accuracy method, n, mean r with Fisher interval
    gibbs_series.csv        setting, binning, seed, accuracy method, cycle, sparsity, entropy,
                            raw and LOWESS accuracy (what the incremental test reads)
    gibbs_incremental.csv   per seed and pooled: partial r given the spline, t-test over seeds,
                            the cross-method control
    summary.json            the plan, the sentences, every file and figure
    summary.md              the same for a reader
    figures/                accuracy with CI bands per setting; one ablation panel per axis
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tomoprune import statistics as st
from tomoprune.analysis.entropy import EntropySettings
from tomoprune.analysis.gibbs import AnalysisSettings, analyze_records, entropy_accuracy_pair
from tomoprune.analysis.runs import load_analysis_run
from tomoprune.analysis.smoothing import DEFAULT_FRAC, lowess
from tomoprune.errors import RecordError
from tomoprune.fileio import atomic_write_csv, atomic_write_json, atomic_write_text, read_csv
from tomoprune.records.reader import load_run
from tomoprune.records.writer import run_status
from tomoprune.sweeps import directory
from tomoprune.sweeps.spec import DEFAULT_METHOD, StatisticsPlan, short_key

if TYPE_CHECKING:
    from tomoprune.plots.sweeps import Published

QUANTITIES = ("raw", "lowess")
STATISTICS = ("high_sparsity_mean", "area_under_curve")
SKIP_AXES = ("seed", "method")
ENTROPY_METHOD = "dtc"  # the method whose runs record measurement vectors
ENTROPY_LAYER = "next_layer"


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

    def values(self, quantity: str) -> np.ndarray:
        return self.raw if quantity == "raw" else self.lowess


def setting_label(setting: Sequence[tuple[str, Any]]) -> str:
    return ", ".join(f"{short_key(k)}={v}" for k, v in setting) or "all runs"


def setting_slug(setting: Sequence[tuple[str, Any]]) -> str:
    return "__".join(f"{short_key(k)}={v}" for k, v in setting) or "all"


def plan_of(sweep: dict[str, Any]) -> StatisticsPlan:
    """The statistics plan the sweep's spec declared (defaults for sweeps written before)."""
    return StatisticsPlan.from_table(sweep["spec"].get("statistics") or {})


def method_order(sweep: dict[str, Any], present: Sequence[str]) -> list[str]:
    """The methods present, in the spec's order (others after it, by name)."""
    spec = sweep["spec"]
    listed = [str(m) for m in spec.get("axes", {}).get("method", [])] or [
        str(spec.get("base", {}).get("method", DEFAULT_METHOD))
    ]
    return [m for m in listed if m in present] + sorted(set(present) - set(listed))


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
                lowess=lowess(sparsity, raw, DEFAULT_FRAC) if len(record.rows) >= 3 else raw.copy(),
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


def _matrix(runs: Sequence[RunSeries], quantity: str) -> tuple[np.ndarray, np.ndarray]:
    """(seeds, cycles) accuracy matrix padded with NaN and the common sparsity schedule (the
    runs must follow one schedule; a run that stopped early is a prefix)."""
    length = max(len(r.sparsity) for r in runs)
    longest = max(runs, key=lambda r: len(r.sparsity))
    out = np.full((len(runs), length), np.nan)
    for i, r in enumerate(runs):
        st.paired_by_level(
            longest.sparsity, longest.sparsity, r.sparsity, r.sparsity, names=(longest.name, r.name)
        )
        out[i, : len(r.sparsity)] = r.values(quantity)
    return out, longest.sparsity


def accuracy_rows(groups, order: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for setting, methods in groups.items():
        for method in [m for m in order if m in methods]:
            for quantity in QUANTITIES:
                matrix, sparsity = _matrix(methods[method], quantity)
                for c in range(matrix.shape[1]):
                    ci = st.t_interval(matrix[:, c])
                    pi = st.prediction_interval(matrix[:, c])
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
                            "pi_low": pi.low,
                            "pi_high": pi.high,
                        }
                    )
    return rows


def run_statistic(run: RunSeries, quantity: str, statistic: str, plan: StatisticsPlan) -> float:
    """One run's summary number: the mean above the cut or the area under the curve."""
    values = run.values(quantity)
    if statistic == "high_sparsity_mean":
        return st.high_level_mean(run.sparsity, values, plan.sparsity_cut)
    return st.area_under_curve(run.sparsity, values, *plan.auc_range)


def per_seed_rows(groups, plan: StatisticsPlan) -> list[dict[str, Any]]:
    rows = []
    for setting, methods in groups.items():
        for method, runs in methods.items():
            for run in runs:
                for quantity in QUANTITIES:
                    rows.append(
                        {
                            **dict(setting),
                            "setting": setting_label(setting),
                            "method": method,
                            "seed": run.seed,
                            "quantity": quantity,
                            **{s: run_statistic(run, quantity, s, plan) for s in STATISTICS},
                        }
                    )
    return rows


def statistic_label(statistic: str, plan: StatisticsPlan) -> str:
    if statistic == "high_sparsity_mean":
        return f"mean accuracy above {plan.sparsity_cut:.0%} sparsity"
    low, high = plan.auc_range
    return f"area under accuracy over sparsity {low:g}-{high:g}"


def _paired_runs(
    a_runs: Sequence[RunSeries], b_runs: Sequence[RunSeries]
) -> list[tuple[RunSeries, RunSeries]]:
    """Runs of the same seed, checked to follow the same schedule (a prefix is allowed)."""
    by_seed = {r.seed: r for r in b_runs}
    pairs = []
    for ra in a_runs:
        rb = by_seed.get(ra.seed)
        if rb is None:
            continue
        st.paired_by_level(ra.sparsity, ra.raw, rb.sparsity, rb.raw, names=(ra.name, rb.name))
        pairs.append((ra, rb))
    return pairs


def method_arms(
    groups, order: Sequence[str], plan: StatisticsPlan
) -> list[tuple[dict[str, Any], str, str, list[RunSeries], list[RunSeries]]]:
    """Method against method within each setting: (row base, a, b, a's runs, b's runs)."""
    arms = []
    for setting, methods in groups.items():
        for a, b in plan.pair_list([m for m in order if m in methods]):
            base = {**dict(setting), "setting": setting_label(setting), "a": a, "b": b}
            arms.append((base, a, b, methods[a], methods[b]))
    return arms


def setting_arms(
    groups, order: Sequence[str], plan: StatisticsPlan, axes: dict[str, Sequence[Any]]
) -> list[tuple[dict[str, Any], str, str, list[RunSeries], list[RunSeries]]]:
    """Setting against setting of one axis, within each method and each value of the other
    axes (``StatisticsPlan.setting_pairs`` says which): the ablation's own question."""
    single = len({m for methods in groups.values() for m in methods}) == 1
    arms = []
    for axis, values in axes.items():
        if axis in SKIP_AXES:
            continue
        for value_a, value_b in plan.setting_pairs(axis, list(values), single):
            a, b = f"{short_key(axis)}={value_a}", f"{short_key(axis)}={value_b}"
            for setting, methods in groups.items():
                held = dict(setting)
                if held.get(axis) != value_a:
                    continue
                other = tuple((k, value_b if k == axis else v) for k, v in setting)
                rest = tuple((k, v) for k, v in setting if k != axis)
                for method in [m for m in order if m in methods and m in groups.get(other, {})]:
                    label = ", ".join([method, *[f"{short_key(k)}={v}" for k, v in rest]])
                    base = {**dict(rest), "setting": label, "method": method, "a": a, "b": b}
                    arms.append((base, a, b, methods[method], groups[other][method]))
    return arms


def comparison_rows(
    groups,
    order: Sequence[str],
    plan: StatisticsPlan,
    axes: dict[str, Sequence[Any]] | None = None,
) -> list[dict[str, Any]]:
    """Every comparison of the declared pairs of methods and of settings (``axes``: the spec's
    axes); the primary ones Holm-adjusted as one family."""
    rows: list[dict[str, Any]] = []
    family: list[tuple[int, st.Comparison]] = []
    arms = method_arms(groups, order, plan) + setting_arms(groups, order, plan, axes or {})
    for base, a, b, a_runs, b_runs in arms:
        pairs = _paired_runs(a_runs, b_runs)
        if not pairs:
            continue
        for quantity in QUANTITIES:
            for statistic in STATISTICS:
                xa = [run_statistic(ra, quantity, statistic, plan) for ra, _ in pairs]
                xb = [run_statistic(rb, quantity, statistic, plan) for _, rb in pairs]
                c = st.compare(xa, xb, names=(a, b), margin=plan.margin, alpha=plan.alpha)
                primary = statistic == plan.statistic and quantity == plan.quantity
                if primary:
                    family.append((len(rows), c))
                rows.append(
                    {
                        **base,
                        "statistic": statistic,
                        "quantity": quantity,
                        "primary": primary,
                        "cycle": None,
                        "sparsity": None,
                        **c.flat(),
                    }
                )
            length = min(min(len(ra.sparsity), len(rb.sparsity)) for ra, rb in pairs)
            for i in range(length):
                c = st.compare(
                    [ra.values(quantity)[i] for ra, _ in pairs],
                    [rb.values(quantity)[i] for _, rb in pairs],
                    names=(a, b),
                    margin=plan.margin,
                    alpha=plan.alpha,
                )
                rows.append(
                    {
                        **base,
                        "statistic": "cycle",
                        "quantity": quantity,
                        "primary": False,
                        "cycle": i + 1,
                        "sparsity": float(pairs[0][0].sparsity[i]),
                        **c.flat(),
                    }
                )
    for (index, _), adjusted in zip(family, st.adjust([c for _, c in family]), strict=True):
        rows[index]["p_holm"] = adjusted.p_holm
        rows[index]["family_size"] = adjusted.family_size
    return rows


def comparison_of_row(row: dict[str, Any]) -> st.Comparison:
    """The Comparison a comparisons.csv / summary row records (for the sentence)."""
    return st.Comparison(
        a=row["a"],
        b=row["b"],
        test=st.PairedTest(
            n=int(row["n"]),
            mean=row["mean"],
            sd=row["sd"],
            t=row["t"],
            df=row["df"],
            p=row["p"],
            ci_low=row["t_low"],
            ci_high=row["t_high"],
            wins=int(row["wins"]),
            losses=int(row["losses"]),
        ),
        signed_rank=st.SignedRank(
            n=int(row["n"]),
            statistic=None,
            p=row["wilcoxon_p"],
            hodges_lehmann=row["hodges_lehmann"],
            smallest_p=row["smallest_wilcoxon_p"],
        ),
        equivalence=st.Equivalence(
            n=int(row["n"]),
            margin=row["margin"],
            alpha=0.05,
            p=row["tost_p"],
            equivalent=row["equivalent"],
            smallest_margin=row["smallest_equivalence_margin"],
        ),
        boot_t_low=row["boot_t_low"],
        boot_t_high=row["boot_t_high"],
        p_holm=row["p_holm"],
        family_size=int(row["family_size"]),
    )


def comparison_sentence(row: dict[str, Any], plan: StatisticsPlan, label: str = "") -> str:
    """The answer a reader wants, from a primary comparison row."""
    where = f" ({label})" if label else ""
    scope = f"{statistic_label(row['statistic'], plan).capitalize()}, {row['quantity']}{where}"
    if row["n"] == 0:
        reach = (
            f"no cycle of these runs reaches sparsity {plan.sparsity_cut}"
            if row["statistic"] == "high_sparsity_mean"
            else "these runs' curves do not span the range"
        )
        return f"{scope}: {reach}, so {row['a']} and {row['b']} are not compared there."
    return st.sentence(comparison_of_row(row), scope=scope, alpha=plan.alpha)


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


def gibbs_rows(
    groups, binnings: Sequence[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per seed with a DTC run: next-layer entropy of DTC vs each method's LOWESS accuracy (the
    published correlation and its controls), and the per-cycle series the incremental test
    reads (entropy, raw and LOWESS accuracy, sparsity)."""
    rows, series_rows = [], []
    for setting, methods in groups.items():
        if ENTROPY_METHOD not in methods:
            continue
        for dtc in methods[ENTROPY_METHOD]:
            peers = [dtc] + [
                r
                for m, runs in methods.items()
                if m != ENTROPY_METHOD
                for r in runs
                if r.seed == dtc.seed
            ]
            records = [load_analysis_run(r.path, name=r.name) for r in peers]
            for binning in binnings:
                analysis = analyze_records(records, _analysis_settings(binning))
                source = next(ra for ra in analysis.runs if ra.run.name == dtc.name)
                for record in records:
                    pair = entropy_accuracy_pair(source, record, ENTROPY_LAYER)
                    smooth = lowess(pair.sparsity, pair.accuracy, DEFAULT_FRAC)
                    for i, cycle in enumerate(pair.cycles):
                        series_rows.append(
                            {
                                **dict(setting),
                                "setting": setting_label(setting),
                                "binning": binning,
                                "seed": dtc.seed,
                                "accuracy_method": record.method,
                                "cycle": int(cycle),
                                "sparsity": float(pair.sparsity[i]),
                                "entropy": _finite_or_none(pair.entropy[i]),
                                "accuracy_raw": _finite_or_none(pair.accuracy[i]),
                                "accuracy_lowess": _finite_or_none(smooth[i]),
                            }
                        )
                for entry in analysis.correlations:
                    if entry["layer"] != ENTROPY_LAYER or entry["entropy_run"] != dtc.name:
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
    return rows, series_rows


def _finite_or_none(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _number(value: Any) -> float:
    return np.nan if value in (None, "") else float(value)


def incremental_rows(
    series_rows: Sequence[dict[str, Any]], plan: StatisticsPlan
) -> list[dict[str, Any]]:
    """Does DTC's entropy tell more about accuracy than size does? Per seed, the partial
    correlation of entropy with accuracy (the plan's quantity) given a cubic spline in log
    width; then per method, the t-test over seeds of its Fisher z, and for the other methods'
    accuracy (the cross-method control) the paired t-test of DTC's own z minus theirs."""
    keyed: dict[tuple, list[dict[str, Any]]] = {}
    for row in series_rows:
        key = (row["setting"], row["binning"], row["accuracy_method"], int(row["seed"]))
        keyed.setdefault(key, []).append(row)
    per_seed: list[dict[str, Any]] = []
    for (setting, binning, method, seed), rows in keyed.items():
        rows = sorted(rows, key=lambda r: int(r["cycle"]))
        sparsity = np.array([_number(r["sparsity"]) for r in rows])
        fit = st.incremental_fit(
            [_number(r[f"accuracy_{plan.quantity}"]) for r in rows],
            [_number(r["entropy"]) for r in rows],
            np.log1p(-sparsity),  # log width, up to the constant log(initial width)
        )
        per_seed.append(
            {
                "scope": "seed",
                "setting": setting,
                "binning": binning,
                "accuracy_method": method,
                "seed": seed,
                **fit.to_dict(),
            }
        )
    pooled: list[dict[str, Any]] = []
    groups: dict[tuple, dict[str, dict[int, float | None]]] = {}
    for row in per_seed:
        by_method = groups.setdefault((row["setting"], row["binning"]), {})
        by_method.setdefault(row["accuracy_method"], {})[row["seed"]] = row["partial_r"]
    for (setting, binning), by_method in groups.items():
        own = by_method.get(ENTROPY_METHOD, {})
        for method, rs in by_method.items():
            seeds = sorted(rs)
            result = st.pool_incremental([rs[s] for s in seeds])
            row = {"scope": "pooled", "setting": setting, "binning": binning}
            row |= {"accuracy_method": method, **result.to_dict()}
            if method != ENTROPY_METHOD and own:
                common = [s for s in seeds if s in own]
                control = st.pool_incremental([own[s] for s in common], [rs[s] for s in common])
                row["difference_p"] = control.difference_p
                row["own_mean_r"] = control.mean_r
            pooled.append(row)
    return per_seed + pooled


def incremental_verdict(
    own: dict[str, Any], controls: Sequence[dict[str, Any]], alpha: float
) -> str:
    """What the incremental test allows to say: entropy tells more than size only when DTC's own
    partial r is significant over seeds and differs from every control's (another method's
    accuracy against the same entropy: what a shared trend alone gives). A sweep without a
    control method cannot separate the two, and says so."""
    if own["p"] >= alpha:
        return "entropy is not shown to tell more about accuracy than size does"
    sign = "" if own["mean_r"] > 0 else " (opposite in sign to the published correlation)"
    if not controls:
        return (
            f"the partial r differs from 0{sign}, but this sweep holds no control method "
            "(another method's accuracy against the same entropy), so what entropy adds cannot "
            "be told apart from what is left of the trend with size"
        )
    if all(c.get("difference_p") is not None and c["difference_p"] < alpha for c in controls):
        return f"entropy tells more about accuracy than size does{sign}"
    return "entropy is not shown to tell more about accuracy than size does"


def incremental_sentences(rows: Sequence[dict[str, Any]], plan: StatisticsPlan) -> list[str]:
    """One sentence per setting and binning on the incremental test (entropy vs size)."""
    pooled = [r for r in rows if r["scope"] == "pooled"]
    out = []
    for key in dict.fromkeys((r["setting"], r["binning"]) for r in pooled):
        group = [r for r in pooled if (r["setting"], r["binning"]) == key]
        own = next((r for r in group if r["accuracy_method"] == ENTROPY_METHOD), None)
        if own is None or own["p"] is None:
            continue
        controls = [r for r in group if r is not own]
        verdict = incremental_verdict(own, controls, plan.alpha)
        parts = [
            f"partial r of DTC's next-layer entropy with its own {plan.quantity} accuracy given "
            f"a cubic spline in log width: mean {own['mean_r']:+.3f} over {own['n']} seeds "
            f"(95 % CI [{own['ci_low']:+.3f}, {own['ci_high']:+.3f}], t-test over seeds "
            f"p = {own['p']:.3g})"
        ]
        for c in controls:
            diff = "-" if c.get("difference_p") is None else f"{c['difference_p']:.3g}"
            parts.append(
                f"with {c['accuracy_method']}'s accuracy (control) {c['mean_r']:+.3f}, paired "
                f"difference p = {diff}"
            )
        label = "" if key[0] == "all runs" else f"{key[0]}, "
        out.append(f"Gibbs ({label}binning {key[1]}): {verdict}: " + "; ".join(parts) + ".")
    return out


def pooled_gibbs_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    keyed: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        keyed.setdefault((row["setting"], row["binning"], row["accuracy_method"]), []).append(row)
    out = []
    for (setting, binning, method), group in keyed.items():
        rs = [_number(g["r"]) for g in group]
        plain = st.t_interval(rs)
        fisher = st.fisher_interval(rs)
        partial = st.fisher_interval([_number(g["partial_r"]) for g in group])
        diffs = st.t_interval([_number(g["differences_r"]) for g in group])
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


def aggregate_sweep(
    out: str | Path,
    *,
    figures: bool = True,
    gibbs: bool = True,
    published: Published | None = None,
) -> dict[str, Any]:
    """Aggregate sweep directory ``out`` into ``out/aggregate``; return the summary document.

    ``published`` points (method -> sparsity levels and accuracies, e.g. the DTC paper's
    Table 1 that ``reproduce.paper.published_points`` reads) are overlaid on the accuracy
    figures of reference-profile settings; the sweep itself knows no paper.

    With ``gibbs`` the runs' measurement vectors are read; without, an existing
    ``aggregate/gibbs_series.csv`` (committed records carry it) still feeds the incremental
    test.
    """
    out = Path(out)
    sweep = directory.read_sweep_file(out)
    plan = plan_of(sweep)
    series, notes = load_series(out)
    if not series:
        raise RecordError(f"{out}: no finished run to aggregate yet; run the sweep first.")
    dest = out / directory.AGGREGATE_DIR
    dest.mkdir(parents=True, exist_ok=True)
    groups = _groups(series)
    order = method_order(sweep, {s.method for s in series})
    accuracy = accuracy_rows(groups, order)
    comparisons = comparison_rows(groups, order, plan, sweep["spec"].get("axes", {}))
    binnings = list(sweep["spec"].get("analysis", {}).get("binning", [])) or ["paper"]
    gibbs_run: list[dict[str, Any]] = []
    gibbs_series: list[dict[str, Any]] = []
    if gibbs:
        gibbs_run, gibbs_series = gibbs_rows(groups, binnings)
    else:
        for name, rows in (("gibbs_runs.csv", gibbs_run), ("gibbs_series.csv", gibbs_series)):
            if (dest / name).is_file():
                rows += [r for r in read_csv(dest / name) if r]
    gibbs_pool = pooled_gibbs_rows(gibbs_run)
    incremental = incremental_rows(gibbs_series, plan)
    files = {
        "accuracy": _write_csv(dest / "accuracy.csv", accuracy),
        "comparisons": _write_csv(dest / "comparisons.csv", comparisons),
        "per_seed": _write_csv(dest / "per_seed.csv", per_seed_rows(groups, plan)),
    }
    if gibbs:
        files["gibbs_runs"] = _write_csv(dest / "gibbs_runs.csv", gibbs_run)
        files["gibbs_series"] = _write_csv(dest / "gibbs_series.csv", gibbs_series)
    files["gibbs_pooled"] = _write_csv(dest / "gibbs_pooled.csv", gibbs_pool)
    files["gibbs_incremental"] = _write_csv(dest / "gibbs_incremental.csv", incremental)
    primary = [r for r in comparisons if r["primary"]]
    several = len(groups) > 1
    sentences = [
        comparison_sentence(r, plan, r["setting"] if several or "method" in r else "")
        for r in primary
    ]
    gibbs_sentences = incremental_sentences(incremental, plan)
    figure_paths: list[str] = []
    if figures:
        # lazy: CLI start-up (matplotlib loads only when figures are drawn)
        from tomoprune.plots.sweeps import ablation_figures, accuracy_band_figures

        figure_paths += accuracy_band_figures(
            accuracy, dest / "figures", sweep, slug_of=setting_slug, published=published
        )
        figure_paths += ablation_figures(
            series, sweep, gibbs_pool, dest / "figures", cut=plan.sparsity_cut
        )
    summary = {
        "out": str(dest),
        "sweep": sweep["spec"],
        "statistics": plan.to_dict(),
        "n_runs_finished": len(series),
        "n_runs_listed": len(sweep["runs"]),
        "seeds": sorted({s.seed for s in series}),
        "settings": [setting_label(s) for s in groups],
        "methods": order,
        "interval": "Student t interval of the mean over seeds, 95%; prediction interval of one "
        "new run, 95%",
        "difference_interval": "paired t-test over seeds (primary), Holm-adjusted over the "
        f"{sum(1 for r in primary if r['p'] is not None)} primary comparisons; TOST against "
        f"+-{100 * plan.margin:.2f} points; signed-rank test with Hodges-Lehmann estimate and "
        "bootstrap-t interval as sensitivity checks",
        "high_sparsity": plan.sparsity_cut,
        "sentences": sentences,
        "gibbs_sentences": gibbs_sentences,
        "pooled_comparisons": primary,
        "secondary_comparisons": [
            r for r in comparisons if r["statistic"] != "cycle" and not r["primary"]
        ],
        "gibbs_pooled": gibbs_pool,
        "gibbs_incremental": [r for r in incremental if r["scope"] == "pooled"],
        "files": {k: str(v) for k, v in files.items()},
        "figures": figure_paths,
        "notes": notes,
    }
    summary = _plain(summary)
    atomic_write_json(dest / "summary.json", summary)
    atomic_write_text(dest / "summary.md", summary_markdown(summary))
    return summary


def _plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, NaN to None."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _cell(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _pts(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:+.2f}"


def _p(x: float | None) -> str:
    return "-" if x is None else f"{x:.2g}" if x < 0.001 else f"{x:.3f}"


def _comparison_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "| setting | A - B | statistic | n | mean | 95 % t CI | paired t p | Holm p | TOST p "
        "(equivalent?) | equivalence margin reached | signed-rank p | Hodges-Lehmann | "
        "bootstrap-t CI | A ahead |",
        "|---|---|---|---:|---:|---|---:|---:|---|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        eq = "-" if r["equivalent"] is None else ("yes" if r["equivalent"] else "no")
        lines.append(
            f"| {r['setting']} | {r['a']} - {r['b']} | {r['statistic']} ({r['quantity']}) | "
            f"{r['n']} | {_pts(r['mean'])} | [{_pts(r['t_low'])}, {_pts(r['t_high'])}] | "
            f"{_p(r['p'])} | {_p(r['p_holm'])} | {_p(r['tost_p'])} ({eq}) | "
            f"+-{_pts(r['smallest_equivalence_margin'])[1:]} | {_p(r['wilcoxon_p'])} | "
            f"{_pts(r['hodges_lehmann'])} | [{_pts(r['boot_t_low'])}, {_pts(r['boot_t_high'])}] | "
            f"{r['wins']}/{r['n']} |"
        )
    return lines


def summary_markdown(summary: dict[str, Any]) -> str:
    spec = summary["sweep"]
    plan = summary["statistics"]
    lines = [
        f"# Sweep {spec['name']}",
        "",
        spec.get("description") or "",
        "",
        f"{summary['n_runs_finished']} of {summary['n_runs_listed']} runs finished; seeds "
        f"{summary['seeds']}. Means over seeds with a {summary['interval']}; paired comparisons "
        f"by {summary['difference_interval']}. Differences in points of test accuracy. Plan "
        f"declared in the spec: primary statistic {plan['statistic']} of {plan['quantity']} "
        f"accuracy (cut {plan['sparsity_cut']}, area range {plan['auc_range']}), margin "
        f"{plan['margin']}, alpha {plan['alpha']}. See docs/guide/statistics.md.",
        "",
        "## The answer",
        "",
        *[f"- {s}" for s in summary["sentences"]],
        *[f"- {s}" for s in summary.get("gibbs_sentences", [])],
        "",
        "## Primary comparisons (the family Holm corrects over)",
        "",
        *_comparison_table(summary["pooled_comparisons"]),
    ]
    if summary.get("secondary_comparisons"):
        lines += [
            "",
            "## Secondary comparisons (not adjusted; the other statistic and quantity)",
            "",
            *_comparison_table(summary["secondary_comparisons"]),
        ]
    if summary.get("gibbs_incremental"):
        lines += [
            "",
            "## Gibbs: does entropy tell more than size? (partial r given a spline in log width)",
            "",
            "| setting | binning | accuracy of | n | mean partial r | 95 % CI | t-test p over "
            "seeds | DTC's own minus this control, p |",
            "|---|---|---|---:|---:|---|---:|---:|",
        ]
        for g in summary["gibbs_incremental"]:
            lines.append(
                f"| {g['setting']} | {g['binning']} | {g['accuracy_method']} | {g['n']} | "
                f"{_cell(g['mean_r'])} | [{_cell(g['ci_low'])}, {_cell(g['ci_high'])}] | "
                f"{_p(g['p'])} | {_p(g.get('difference_p'))} |"
            )
    if summary["gibbs_pooled"]:
        lines += [
            "",
            "## Gibbs correlation as published (next-layer entropy of DTC vs LOWESS accuracy)",
            "",
            "Both series trend with size, so r and the partial r given a straight line in "
            "sparsity say little; the permutation p is not reported (shuffling cycles of "
            "trending series breaks exchangeability).",
            "",
            "| setting | binning | accuracy of | n | mean r | 95 % CI (Fisher z) | Fisher mean r | "
            "mean partial r (given linear sparsity) |",
            "|---|---|---|---:|---:|---|---:|---:|",
        ]
        for g in summary["gibbs_pooled"]:
            lines.append(
                f"| {g['setting']} | {g['binning']} | {g['accuracy_method']} | {g['n']} | "
                f"{_cell(g['mean_r'])} | [{_cell(g['ci_low'])}, {_cell(g['ci_high'])}] | "
                f"{_cell(g['fisher_mean_r'])} | {_cell(g['mean_partial_r'])} |"
            )
    if summary["figures"]:
        lines += ["", "## Figures", "", *[f"![{Path(f).stem}]({f})" for f in summary["figures"]]]
    if summary["notes"]:
        lines += ["", "## Notes", "", *[f"- {n}" for n in summary["notes"]]]
    return "\n".join(lines) + "\n"
