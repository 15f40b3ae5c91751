"""``report.md`` and ``report.html`` for one or more runs, built from records only.

The report runs the Gibbs analysis (``gibbs.json`` and figures land beside it), then lays out:
each run's configuration, the verdicts of every control, a compact table of the correlations,
the paper comparison (when a DTC run with measurements is present), the figures, the per-cycle
tables, what could not be computed, and the settings used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tomoprune import __version__
from tomoprune.analysis.comparison import correlation_comparison
from tomoprune.analysis.gibbs import AnalysisSettings, analyze_runs
from tomoprune.analysis.verdicts import fmt
from tomoprune.records.io import atomic_write_text
from tomoprune.report.document import (
    Block,
    Bullets,
    Code,
    Figure,
    Heading,
    Paragraph,
    Table,
    render_html,
    render_markdown,
)

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
TITLE = "Gibbs randomness-compression analysis"

FIGURE_CAPTIONS = {
    "accuracy_vs_sparsity": "Test accuracy against sparsity: raw points and LOWESS curves.",
    "accuracy_vs_sparsity_tail": "Close-up of the steep tail of the accuracy curves.",
    "weight_rays": "Weight rays: mean(|score|) / len(score) per cycle, as the paper plots them.",
    "gibbs_entropy": "Gibbs entropy of the previous- and next-layer measurement vectors.",
    "measurement_histograms": "Measurement vectors at chosen cycles; dashed lines mark the paper's bin range.",
    "null_model": "Observed entropy against the size-only null models (mean and quantile band).",
}


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return fmt(value, digits)
    return str(value)


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
                _num(prim["r"]),
                str(prim["n_used"]),
                _num(ctl["permutation"]["p_value"]),
                f"[{_num(boot['low'], 3)}, {_num(boot['high'], 3)}]",
                f"{_num(diff['r'], 3)} (p {_num(diff['p_value'], 3)})",
                f"{_num(part['r'], 3)} (p {_num(part['p_value'], 3)})",
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
            "permutation p",
            "block-bootstrap CI",
            "r of differences",
            "partial r | sparsity",
            "null r (scale-matched)",
            "null r (fixed scale)",
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
        path = Path(run_dir) / "summary.json"
        summary = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
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


def build_blocks(
    doc: dict[str, Any], comparison: list[dict[str, Any]] | None, cost: Table | None = None
) -> list[Block]:
    """The report's content from a gibbs.json document and the paper comparison rows."""
    blocks: list[Block] = [
        Heading(1, TITLE),
        Paragraph(
            f"Generated by tomoprune {__version__} from the run records alone. Every number is "
            "in gibbs.json beside this report, with the settings that produced it."
        ),
        Heading(2, "Runs"),
        _config_table(doc),
    ]
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
            Heading(2, "Correlations and controls"),
            Paragraph(
                "r is the primary correlation (settings below); the controls ask whether it "
                "says more than 'both series fall as the network shrinks'. Null r is the "
                "typical correlation of entropy computed on random Gaussian vectors of the same "
                "lengths."
            ),
            _correlation_table(doc),
            Heading(2, "Verdicts"),
        ]
        for c in doc["correlations"]:
            blocks += [Heading(3, c["description"]), Bullets(tuple(c["verdicts"]))]
    if comparison:
        blocks += [
            Heading(2, "The paper's correlations"),
            Paragraph(comparison[0]["quantity"] + "."),
            _comparison_table(comparison),
        ]
    if doc["figures"]:
        blocks.append(Heading(2, "Figures"))
        blocks += [Figure(path, _caption(path)) for path in doc["figures"]]
    blocks.append(Heading(2, "Per-cycle records"))
    for run in doc["runs"]:
        blocks += [Heading(3, f"{run['name']} ({run['method']})"), _cycle_table(run)]
    blocks.append(Heading(2, "What could and could not be computed"))
    items = []
    for run in doc["runs"]:
        items.append(f"{run['name']}: computed: {', '.join(run['can_compute'])}.")
        if run["cannot_compute"]:
            items.append(f"{run['name']}: not computable: {', '.join(run['cannot_compute'])}.")
    items += doc["notes"]
    blocks.append(Bullets(tuple(items)))
    blocks += [
        Heading(2, "Settings"),
        Code(json.dumps(doc["settings"], indent=1)),
    ]
    return blocks


def write_report(
    run_dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    settings: AnalysisSettings | None = None,
    *,
    reference_path: str | os.PathLike[str] | None = None,
) -> dict[str, Path]:
    """Analyse ``run_dirs`` into ``out_dir`` and write ``report.md`` and ``report.html``.

    Returns
    -------
    dict
        ``{"markdown": ..., "html": ..., "gibbs": ...}`` paths.
    """
    out = Path(out_dir)
    doc = analyze_runs(run_dirs, settings, out_dir=out)
    comparison = None
    if any(r["method"] == "dtc" and r["has_measurements"] for r in doc["runs"]):
        comparison = correlation_comparison(list(run_dirs), reference_path=reference_path)
    blocks = build_blocks(doc, comparison, cost_table(run_dirs))
    atomic_write_text(out / REPORT_MD, render_markdown(blocks))
    atomic_write_text(out / REPORT_HTML, render_html(blocks, title=TITLE, base_dir=out))
    return {"markdown": out / REPORT_MD, "html": out / REPORT_HTML, "gibbs": out / "gibbs.json"}
