"""``report.md`` and ``report.html`` for one or more runs, built from records only.

The report runs the Gibbs analysis (``gibbs.json`` and figures land beside it) and leads with
its answer: a short verdict on which run kept accuracy and the method comparison table. Then
the entropy-accuracy correlations (flagged when they rest on too few cycles), the paper
comparison only where the runs' dataset and profile are the paper's (else a plain sentence),
the accuracy figure; the long detail (controls, verdicts, other figures, per-cycle tables,
what could not be computed, settings) follows folded under ``<details>``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tomoprune import __version__
from tomoprune.analysis.gibbs import AnalysisSettings, analyze_runs
from tomoprune.fileio import atomic_write_text
from tomoprune.records.reader import load_run
from tomoprune.records.tables import format_cell
from tomoprune.report.document import (
    Block,
    Bullets,
    Code,
    Details,
    Figure,
    Heading,
    Paragraph,
    Table,
    render_html,
    render_markdown,
)

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
TITLE = "Compression report"

FIGURE_CAPTIONS = {
    "accuracy_vs_sparsity": "Test accuracy against sparsity: raw points and LOWESS curves.",
    "accuracy_vs_sparsity_tail": "Close-up of the steep tail of the accuracy curves.",
    "weight_rays": "Weight rays: mean(|score|) / len(score) per cycle, as the paper plots them.",
    "gibbs_entropy": "Gibbs entropy of the previous- and next-layer measurement vectors.",
    "measurement_histograms": "Measurement vectors at chosen cycles; dashed lines mark the paper's bin range.",
    "null_model": "Observed entropy against the size-only null models (mean and quantile band).",
}


def _num(value: Any, digits: int = 4) -> str:
    """A number for a table: rounding noise around zero (e.g. -1.4e-10) reads as 0."""
    return format_cell(value, digits, missing="—", clip_zero=True)


def _p(value: float | None) -> str:
    """A p-value: three decimals, or '< 0.001'."""
    if value is None:
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _caption(path: str) -> str:
    stem = Path(path).stem
    for key in sorted(FIGURE_CAPTIONS, key=len, reverse=True):
        if stem.startswith(key):
            run = stem[len(key) :].lstrip("_")
            return FIGURE_CAPTIONS[key] + (f" Run: {run}." if run else "")
    return stem


def _config_table(doc: dict[str, Any]) -> Table:
    keys = ("method", "profile", "dataset", "status", "seeds", "versions", "git_commit", "source")
    rows = tuple(
        (run["name"], *(_num(run["config"].get(k)) for k in keys), str(run["n_cycles"]))
        for run in doc["runs"]
    )
    return Table(("run", *(k.replace("_", " ") for k in keys), "cycles"), rows)


def _correlation_table(doc: dict[str, Any]) -> Table:
    rows = []
    for c in doc["correlations"]:
        prim = c["correlations"][c["primary"]]
        ctl = c["controls"]
        boot = ctl["block_bootstrap"]
        diff = ctl["differences"]
        part = ctl["partial_given_sparsity"]
        nulls = ctl["size_null"]
        rows.append(
            (
                f"{c['layer']} ({c['entropy_run']})",
                c["accuracy_run"],
                _num(prim["r"], 3),
                str(prim["n_used"]) + (" (too few)" if c.get("too_few_points") else ""),
                _p(ctl["permutation"]["p_value"]),
                f"[{_num(boot['low'], 2)}, {_num(boot['high'], 2)}]",
                f"{_num(diff['r'], 2)} (p {_p(diff['p_value'])})",
                f"{_num(part['r'], 2)} (p {_p(part['p_value'])})",
                _num(nulls["scale_matched"]["r_draws_mean"], 3),
                _num(nulls["fixed_scale"]["r_draws_mean"], 3),
            )
        )
    return Table(
        (
            "entropy",
            "accuracy of",
            "r",
            "cycles",
            "perm. p",
            "bootstrap CI",
            "r of diffs",
            "partial r",
            "null r (matched)",
            "null r (fixed)",
        ),
        tuple(rows),
    )


def _comparison_table(rows: list[dict[str, Any]]) -> Table:
    return Table(
        (
            "accuracy of",
            "published",
            "recomputed from the authors' run",
            "ours",
            "our cycles",
            "note",
        ),
        tuple(
            (
                r["accuracy_method"],
                _num(r["published"]),
                _num(r["reference_recomputed"]),
                _num(r["ours"]),
                _num(r["ours_n_cycles"]),
                r["note"] or "",
            )
            for r in rows
        ),
    )


def _cycle_table(run: dict[str, Any]) -> Table:
    has_entropy = run["has_measurements"]
    header = ["cycle", "width", "sparsity", "test accuracy", "LOWESS accuracy"]
    if has_entropy:
        header += ["G previous", "outside (prev)", "G next", "outside (next)", "mean|score|/len"]
    rows = []
    for c in run["cycles"]:
        row = [
            str(c["cycle"]),
            _num(None if c["width"] is None else int(c["width"])),
            _num(c["sparsity"]),
            _num(c["test_accuracy"]),
            _num(c["accuracy_lowess"]),
        ]
        if has_entropy:
            for layer in ("previous_layer", "next_layer"):
                e = (c["entropy"] or {}).get(layer) or {}
                row.append(_num(e.get("value")) if e.get("value") is not None else "undefined")
                share = e.get("share_outside")
                row.append("—" if share is None else f"{share:.0%}")
            rays = c["rays"] or {}
            row.append(_num(rays.get("mean_abs_over_len"), 5))
        rows.append(tuple(row))
    return Table(tuple(header), tuple(rows))


def _ms(summary: dict[str, Any], key: str) -> str:
    value = summary.get(key)
    return "—" if value is None else f"{1e3 * value:.3g}"


def cost_table(run_dirs: Sequence[str | os.PathLike[str]]) -> Table | None:
    """Parameters, FLOPs per sample and latency before and after, per run (summary.json)."""
    rows = []
    for run_dir in run_dirs:
        summary = load_run(run_dir).summary or {}
        if "flops_before" not in summary:
            continue
        rows.append(
            (
                Path(run_dir).name,
                f"{summary['parameters_before']:,} → {summary['parameters_after']:,}",
                f"{summary['flops_before']:,} → {summary['flops_after']:,}",
                f"{_ms(summary, 'latency_b1_before_s')} → {_ms(summary, 'latency_b1_after_s')}",
                f"{_ms(summary, 'latency_b256_before_s')} → {_ms(summary, 'latency_b256_after_s')}",
            )
        )
    if not rows:
        return None
    header = ("run", "parameters", "FLOPs / sample", "latency b1 (ms)", "latency b256 (ms)")
    return Table(header, tuple(rows))


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    path = run.get("path")
    return {} if path is None else load_run(path).summary or {}


def _accuracy_at(run: dict[str, Any], sparsity: float) -> float | None:
    """Test accuracy of the last cycle at or below ``sparsity``."""
    best = None
    for c in run["cycles"]:
        if c["sparsity"] is not None and c["sparsity"] <= sparsity + 1e-9:
            best = c["test_accuracy"]
    return best


def _mean_accuracy(run: dict[str, Any], sparsity: float) -> float | None:
    """Mean test accuracy over the cycles at or below ``sparsity`` (the whole curve, not one
    noisy last point)."""
    values = [
        c["test_accuracy"]
        for c in run["cycles"]
        if c["sparsity"] is not None
        and c["sparsity"] <= sparsity + 1e-9
        and c["test_accuracy"] is not None
    ]
    return sum(values) / len(values) if values else None


def method_table(doc: dict[str, Any]) -> tuple[Table, str]:
    """One row per run (method, data, how far it compressed, what accuracy it kept) and the
    verdict sentence: which run kept the most accuracy at the deepest sparsity all reached."""
    runs = [r for r in doc["runs"] if r["cycles"]]
    finals = [max(c["sparsity"] or 0.0 for c in r["cycles"]) for r in runs]
    common = min(finals) if finals else None
    at_common = {r["name"]: _accuracy_at(r, common) for r in runs} if runs else {}
    mean = {r["name"]: _mean_accuracy(r, common) for r in runs} if runs else {}
    weight_level = any("compression_ratio" in _summary(r) for r in runs)
    header = ["run", "method", "dataset", "cycles", "final sparsity", "final accuracy"]
    if runs:
        header += [
            "best accuracy",
            f"mean accuracy to sparsity {_num(common, 3)}",
            f"accuracy at {_num(common, 3)}",
        ]
    if weight_level:
        header += ["zero weights", "compression ratio"]
    rows = []
    for run in doc["runs"]:
        last = run["cycles"][-1] if run["cycles"] else {}
        accuracies = [c["test_accuracy"] for c in run["cycles"] if c["test_accuracy"] is not None]
        row = [
            run["name"],
            run["method"],
            _num(run["config"].get("dataset")),
            str(run["n_cycles"]),
            _num(last.get("sparsity"), 3),
            _num(last.get("test_accuracy")),
            _num(max(accuracies) if accuracies else None),
            _num(mean.get(run["name"])),
            _num(at_common.get(run["name"])),
        ]
        if weight_level:
            summary = _summary(run)
            sparsity = summary.get("weight_sparsity")
            row += [
                "—" if sparsity is None else f"{sparsity:.1%}",
                _num(summary.get("compression_ratio"), 1),
            ]
        rows.append(tuple(row))
    return Table(tuple(header), tuple(rows)), _verdict(runs, mean, at_common, common)


def _verdict(
    runs: list[dict[str, Any]],
    mean: dict[str, Any],
    at_common: dict[str, Any],
    common: float | None,
) -> str:
    if not runs:
        return "No run has a finished cycle yet, so there is nothing to compare."
    ranked = sorted(
        (r for r in runs if mean.get(r["name"]) is not None), key=lambda r: -mean[r["name"]]
    )
    if len(ranked) == 1:
        r = ranked[0]
        return (
            f"One run: {r['name']} ({r['method']}) reached sparsity {_num(common, 3)}; its "
            f"test accuracy averaged {_num(mean[r['name']])} over the way and ended at "
            f"{_num(at_common[r['name']])}."
        )
    top, second = ranked[0], ranked[1]
    listing = ", ".join(f"{r['name']} {_num(mean[r['name']])}" for r in ranked)
    gap = mean[top["name"]] - mean[second["name"]]
    last = max(ranked, key=lambda r: at_common[r["name"]] or 0.0)
    if gap < 0.005:
        lead = (
            f"{top['name']} and {second['name']} are within half a percentage point: "
            "practically a tie."
        )
    else:
        lead = (
            f"{top['name']} kept the most accuracy, {gap * 100:.1f} percentage points ahead "
            f"of {second['name']}."
        )
    seeds = (
        " Each method has one run (one seed), so this ranks these runs; a claim about the "
        "methods needs several seeds and an interval."
        if len({r["method"] for r in runs}) == len(runs)
        else ""
    )
    return (
        f"Mean test accuracy over the cycles up to sparsity {_num(common, 3)}, the deepest "
        f"level every run reached: {listing}. {lead} At that deepest level "
        f"{last['name']} was ahead ({_num(at_common[last['name']])}).{seeds}"
    )


def _short_correlations(doc: dict[str, Any]) -> Table:
    rows = []
    for c in doc["correlations"]:
        prim = c["correlations"][c["primary"]]
        boot = c["controls"]["block_bootstrap"]
        rows.append(
            (
                c["entropy_run"],
                c["layer"].replace("_", " "),
                c["accuracy_run"],
                _num(prim["r"], 3),
                f"[{_num(boot['low'], 2)}, {_num(boot['high'], 2)}]",
                str(prim["n_used"]),
                "too few cycles to mean much" if c.get("too_few_points") else "",
            )
        )
    return Table(
        ("entropy of", "layer", "accuracy of", "r", "bootstrap CI", "cycles", "caution"),
        tuple(rows),
    )


@dataclass(frozen=True)
class PaperComparison:
    """A published paper's correlations to set beside the runs' (the DTC paper's is
    ``reproduce.correlations.DTC_PAPER``, passed by the commands; the report knows no paper).

    ``not_comparable_reason(dataset, profile)`` says why a run cannot be compared (None when
    it can); ``rows(run_dirs, reference_path=...)`` gives the comparison rows.
    """

    not_comparable_reason: Callable[[str | None, str | None], str | None]
    rows: Callable[..., list[dict[str, Any]]]


def _paper_blocks(
    doc: dict[str, Any], comparison: list[dict[str, Any]] | None, paper: PaperComparison | None
) -> list[Block]:
    dtc = [r for r in doc["runs"] if r["method"] == "dtc" and r["has_measurements"]]
    if not dtc or paper is None:
        return []
    config = dtc[0]["config"]
    reason = paper.not_comparable_reason(config.get("dataset"), config.get("profile"))
    if reason is not None or not comparison:
        return [
            Heading(2, "The paper's correlations"),
            Paragraph(
                "Not comparable, so not shown: the paper's numbers hold for MNIST under the "
                f"reference profile, and these runs differ ({reason or 'no comparison'}). Run "
                "`tomoprune reproduce table1` for the comparison."
            ),
        ]
    return [
        Heading(2, "The paper's correlations"),
        Paragraph(comparison[0]["quantity"] + "."),
        _comparison_table(comparison),
    ]


def build_blocks(
    doc: dict[str, Any],
    comparison: list[dict[str, Any]] | None,
    cost: Table | None = None,
    paper: PaperComparison | None = None,
) -> list[Block]:
    """The report's content from a gibbs.json document and the paper comparison rows (a
    section only when a ``paper`` is given)."""
    table, verdict = method_table(doc)
    blocks: list[Block] = [
        Heading(1, TITLE),
        Paragraph(verdict, answer=True),
        table,
        Paragraph(
            f"Generated by tomoprune {__version__} from the run records alone; every number is "
            "in gibbs.json beside this report, with the settings that produced it."
        ),
    ]
    figures = list(doc["figures"])
    first = [f for f in figures if Path(f).stem == "accuracy_vs_sparsity"]
    blocks += [Figure(path, _caption(path)) for path in first]
    if cost is not None:
        blocks += [
            Heading(2, "Cost before and after compression"),
            Paragraph(
                "Parameters (all entries), FLOPs of one forward of one sample (PyTorch's flop "
                "counter; masked zeros still count) and measured CPU inference latency (median "
                "of repeats, batch 1 and 256), of the initial and the final model; per-module "
                "breakdowns in each run's accounting.json."
            ),
            cost,
        ]
    if doc["correlations"]:
        blocks += [
            Heading(2, "Gibbs entropy against accuracy"),
            Paragraph(
                "r is the primary correlation (settings below) of each run's measurement "
                "entropy with its own accuracy; the interval is a moving-block bootstrap. "
                "Correlations over few cycles are flagged: a trend shared by both series "
                "makes r large without meaning much (the controls below test that)."
            ),
            _short_correlations(doc),
        ]
    blocks += _paper_blocks(doc, comparison, paper)
    detail: list[Block] = []
    if doc["correlations"]:
        detail.append(
            Details(
                "Controls of every correlation (permutation, differences, partial, null models)",
                (
                    Paragraph(
                        "The controls ask whether r says more than 'both series fall as the "
                        "network shrinks'. Null r is the typical correlation of entropy "
                        "computed on random Gaussian vectors of the same lengths."
                    ),
                    _correlation_table(doc),
                    *(
                        block
                        for c in doc["correlations"]
                        for block in (Heading(3, c["description"]), Bullets(tuple(c["verdicts"])))
                    ),
                ),
            )
        )
    rest = [f for f in figures if f not in first]
    if rest:
        detail.append(
            Details(f"Figures ({len(rest)} more)", tuple(Figure(p, _caption(p)) for p in rest))
        )
    detail.append(Details("Runs: configuration, seeds, versions", (_config_table(doc),)))
    for run in doc["runs"]:
        detail.append(
            Details(
                f"Per-cycle records of {run['name']} ({run['method']}, {run['n_cycles']} cycles)",
                (_cycle_table(run),),
            )
        )
    items = []
    for run in doc["runs"]:
        items.append(f"{run['name']}: computed: {', '.join(run['can_compute'])}.")
        if run["cannot_compute"]:
            items.append(f"{run['name']}: not computable: {', '.join(run['cannot_compute'])}.")
    items += doc["notes"]
    detail.append(Details("What could and could not be computed", (Bullets(tuple(items)),)))
    detail.append(Details("Analysis settings", (Code(json.dumps(doc["settings"], indent=1)),)))
    blocks += [Heading(2, "Detail"), *detail]
    return blocks


def write_report(
    run_dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    settings: AnalysisSettings | None = None,
    *,
    reference_path: str | os.PathLike[str] | None = None,
    paper: PaperComparison | None = None,
) -> dict[str, Path]:
    """Analyse ``run_dirs`` into ``out_dir`` and write ``report.md`` and ``report.html``.

    With ``paper`` (``reproduce.correlations.DTC_PAPER``) the report sets the paper's
    correlations beside the runs' when the runs are comparable, and says why when not.

    Returns
    -------
    dict
        ``{"markdown": ..., "html": ..., "gibbs": ...}`` paths.
    """
    out = Path(out_dir)
    from tomoprune.plots.figures import write_figures  # lazy: CLI start-up (matplotlib)

    doc = analyze_runs(run_dirs, settings, out_dir=out, draw_figures=write_figures)
    comparison = None
    if paper is not None and any(
        r["method"] == "dtc"
        and r["has_measurements"]
        and paper.not_comparable_reason(r["config"].get("dataset"), r["config"].get("profile"))
        is None
        for r in doc["runs"]
    ):
        comparison = paper.rows(list(run_dirs), reference_path=reference_path)
    blocks = build_blocks(doc, comparison, cost_table(run_dirs), paper)
    atomic_write_text(out / REPORT_MD, render_markdown(blocks))
    atomic_write_text(out / REPORT_HTML, render_html(blocks, title=TITLE, base_dir=out))
    return {"markdown": out / REPORT_MD, "html": out / REPORT_HTML, "gibbs": out / "gibbs.json"}
