"""The paper's two correlations: as published, recomputed from the authors' run, and ours.

The paper correlates the next-layer Gibbs entropy of its DTC run (fixed bins -50..50 step 0.2,
natural log, ``-sum p log(p + 1e-10)``) with the LOWESS-smoothed (frac 0.3) test accuracy of the
DTC run and of the random-pruning run (Pearson). The same functions the ``analyze`` command uses
compute that number for the authors' recorded run and for ours.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from tomoprune.analysis.gibbs import (
    AnalysisSettings,
    analyze_run,
    entropy_accuracy_pair,
    pair_correlation,
)
from tomoprune.analysis.runs import RunRecords, load_analysis_run
from tomoprune.errors import RecordError
from tomoprune.report.build import PaperComparison
from tomoprune.reproduce.paper import (
    LOWESS_FRAC,
    METHODS,
    PUBLISHED_CORRELATIONS,
    not_comparable_reason,
)
from tomoprune.reproduce.reference_run import reference_run_records

PAPER_LAYER = "next_layer"
QUANTITY = (
    "Pearson r: next-layer Gibbs entropy of the DTC run (paper bins, ln, epsilon formula) vs "
    "LOWESS-smoothed (frac 0.3) test accuracy"
)


def paper_settings() -> AnalysisSettings:
    """The paper's entropy and smoothing choices (the AnalysisSettings defaults), no figures."""
    return AnalysisSettings(frac=LOWESS_FRAC, figures=False)


def paper_correlations(runs: Sequence[RunRecords]) -> dict[str, dict[str, Any]]:
    """The paper's correlation for each method whose run is present.

    The entropy comes from the first DTC run with measurements; the accuracy from the first run
    of each method. Returns method -> {"r", "n_used", "entropy_run", "accuracy_run",
    "undefined_reason"}; empty when no run has measurements.
    """
    settings = paper_settings()
    source = next((r for r in runs if r.method == "dtc" and r.measurements is not None), None)
    if source is None:
        source = next((r for r in runs if r.measurements is not None), None)
    if source is None:
        return {}
    analysed = analyze_run(source, settings)
    out = {}
    for method in METHODS:
        run = next((r for r in runs if r.method == method), None)
        if run is None:
            continue
        res = pair_correlation(
            entropy_accuracy_pair(analysed, run, PAPER_LAYER),
            method="pearson",
            smooth_accuracy=True,
            frac=settings.frac,
        )
        out[method] = {
            "r": res.r,
            "n_used": res.n_used,
            "entropy_run": source.name,
            "accuracy_run": run.name,
            "undefined_reason": res.undefined_reason,
        }
    return out


def correlation_comparison(
    our_runs: Sequence[RunRecords | str | os.PathLike[str]],
    *,
    reference_path: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """Published, recomputed-from-the-authors'-run and our correlation, one row per method.

    Parameters
    ----------
    our_runs : sequence of RunRecords or run directories
        Our runs; the DTC one (with measurements) supplies the entropy, each method's run its
        accuracy.
    reference_path : path, optional
        The authors' recorded run JSON (default: ``tomoprune.reproduce.paper`` finds it).

    Returns
    -------
    list of dict
        Keys ``accuracy_method``, ``quantity``, ``published`` (None where the paper printed no
        number), ``reference_recomputed``, ``ours``, ``ours_n_cycles``, ``ours_runs``, ``note``.
    """
    runs = [r if isinstance(r, RunRecords) else load_analysis_run(r) for r in our_runs]
    ours = paper_correlations(runs)
    ref_note = None
    try:
        reference = paper_correlations(list(reference_run_records(reference_path).values()))
    except RecordError as exc:
        reference, ref_note = {}, f"authors' run unavailable: {exc}"
    rows = []
    for method in ("dtc", "random", "magnitude"):
        mine = ours.get(method)
        notes = [n for n in (ref_note,) if n]
        if mine is None:
            notes.append(
                "no DTC run with measurements among our runs"
                if not ours
                else f"no {method} run among our runs"
            )
        elif mine["r"] is None:
            notes.append(f"ours undefined: {mine['undefined_reason']}")
        if method not in PUBLISHED_CORRELATIONS:
            notes.append("the paper prints no correlation for this method")
        rows.append(
            {
                "accuracy_method": method,
                "quantity": QUANTITY,
                "published": PUBLISHED_CORRELATIONS.get(method),
                "reference_recomputed": reference.get(method, {}).get("r"),
                "ours": None if mine is None else mine["r"],
                "ours_n_cycles": None if mine is None else mine["n_used"],
                "ours_runs": None
                if mine is None
                else {"entropy": mine["entropy_run"], "accuracy": mine["accuracy_run"]},
                "note": "; ".join(notes) or None,
            }
        )
    return rows


# the DTC paper's correlations, as the run reports set them beside the runs' own
DTC_PAPER = PaperComparison(
    not_comparable_reason=not_comparable_reason, rows=correlation_comparison
)
