"""The paper's numbers recomputed from the authors' recorded run through our own code paths."""

from __future__ import annotations

import json

import numpy as np
import pytest
from statsmodels.nonparametric.smoothers_lowess import lowess as sm_lowess

from tomoprune.analysis.gibbs import GIBBS_FILE, AnalysisSettings, analyze_runs
from tomoprune.analysis.runs import load_analysis_run
from tomoprune.analysis.smoothing import lowess
from tomoprune.reproduce.correlations import correlation_comparison
from tomoprune.reproduce.paper import (
    LOWESS_FRAC,
    METHODS,
    PUBLISHED_CORRELATIONS,
    TABLE1_SPARSITIES,
    default_reference_path,
    load_published_table1,
    load_reference_run,
    table1_row_indices,
)
from tomoprune.reproduce.reference_run import reference_run_dirs, reference_run_records

pytestmark = pytest.mark.skipif(
    not default_reference_path().is_file(),
    reason="the authors' recorded run (../shared/reference) is not beside the checkout",
)

FAST = AnalysisSettings(n_permutations=50, n_bootstrap=50, n_null_draws=10, figures=False)


@pytest.fixture(scope="module")
def reference_dirs(tmp_path_factory):
    return reference_run_dirs(tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="module")
def gibbs_doc(reference_dirs, tmp_path_factory):
    out = tmp_path_factory.mktemp("analysis")
    # the paper pairs the DTC run's entropy with every run's accuracy: cross pairs, asked for
    settings = AnalysisSettings(
        n_permutations=50, n_bootstrap=50, n_null_draws=10, figures=False, cross_pairs=True
    )
    analyze_runs([reference_dirs[m] for m in METHODS], settings, out_dir=out)
    return json.loads((out / GIBBS_FILE).read_text())


def test_published_correlations_are_recomputed_by_the_analyze_path(gibbs_doc):
    found = {
        c["accuracy_method"]: c["correlations"]["pearson_smoothed"]["r"]
        for c in gibbs_doc["correlations"]
        if c["layer"] == "next_layer" and c["entropy_run"] == "reference-dtc"
    }
    for method, published in PUBLISHED_CORRELATIONS.items():
        assert round(found[method], 4) == published
    used = gibbs_doc["settings"]["next_layer"]
    assert (used["binning"], used["base"], used["formula"]) == ("paper", "e", "paper_epsilon")


def test_correlation_comparison_puts_published_reference_and_ours_side_by_side(reference_dirs):
    rows = {r["accuracy_method"]: r for r in correlation_comparison(list(reference_dirs.values()))}
    for method, published in PUBLISHED_CORRELATIONS.items():
        assert rows[method]["published"] == published
        assert round(rows[method]["reference_recomputed"], 4) == published
        assert rows[method]["ours"] == rows[method]["reference_recomputed"]
        assert rows[method]["ours_n_cycles"] == 34
    assert rows["magnitude"]["published"] is None
    assert "no correlation" in rows["magnitude"]["note"]


def test_the_paper_s_zero_over_zero_cycle_is_undefined_not_nan(gibbs_doc):
    dtc = next(r for r in gibbs_doc["runs"] if r["name"] == "reference-dtc")
    prev = [c["entropy"]["previous_layer"] for c in dtc["cycles"]]
    undefined = [i for i, e in enumerate(prev) if e["value"] is None]
    assert len(undefined) == 1
    assert "outside" in prev[undefined[0]]["undefined_reason"]
    assert prev[undefined[0]]["share_outside"] == 1.0


def test_table1_cells_equal_statsmodels_lowess_and_behave():
    ref = load_reference_run()
    rows = table1_row_indices(ref.sparsity)
    assert np.all(np.diff(ref.sparsity) > 0)  # so statsmodels' sorted output is in cycle order
    cells = []
    for method in METHODS:
        ours = lowess(ref.sparsity, ref.accuracy[method], LOWESS_FRAC)[rows]
        oracle = sm_lowess(ref.accuracy[method], ref.sparsity, frac=0.3)[:, 1][rows]
        np.testing.assert_array_equal(np.round(ours, 4), np.round(oracle, 4))
        tail = ours[-7:]  # the seven rows from sparsity 0.9 on
        assert np.all(np.diff(tail) < 1e-3), f"{method} tail not falling: {tail}"
        assert tail[-1] < ours[7]  # 0.98 below 0.8
        cells += list(ours)
    cells = np.array(cells)
    assert cells.size == 45
    assert np.all(np.isfinite(cells)) and np.all((cells >= 0) & (cells <= 1))


def test_converted_run_dirs_read_back_exactly(reference_dirs):
    memory = reference_run_records()["dtc"]
    disk = load_analysis_run(reference_dirs["dtc"])
    widths = disk.width.astype(int)
    assert widths[0] == 460 and widths[-1] == 9
    np.testing.assert_array_equal(widths, np.rint(512 * (1 - disk.sparsity)))
    np.testing.assert_array_equal(disk.test_accuracy, memory.test_accuracy)
    for a, b in zip(disk.measurements, memory.measurements, strict=True):
        np.testing.assert_array_equal(a.measurements["next_layer"], b.measurements["next_layer"])
        np.testing.assert_array_equal(a.scores, b.scores)
        assert a.coefficients == {"previous_layer": None, "next_layer": None}
    assert disk.measurements[0].width_before == 512 and disk.measurements[0].scores.size == 512
    assert load_analysis_run(reference_dirs["random"]).measurements is None


def test_printed_table1_rows_are_the_lowess_of_the_recorded_run_at_the_paper_s_levels():
    ref = load_reference_run()
    published = load_published_table1()
    rows = table1_row_indices(ref.sparsity)
    assert [i + 1 for i in rows] == [1, 2, 4, 5, 7, 9, 13, 18, 22, 23, 24, 27, 31, 33, 34]
    for method in METHODS:
        smooth = lowess(ref.sparsity, ref.accuracy[method], LOWESS_FRAC)
        for level, index in zip(TABLE1_SPARSITIES, rows, strict=True):
            assert round(float(ref.sparsity[index]), 4) == level
            assert round(float(smooth[index]), 4) == published[level][method]


def test_table1_rows_print_the_published_cells_at_the_paper_s_levels():
    from tomoprune.reproduce.table1 import table_rows

    rows = table_rows({}, load_reference_run())
    assert [r["sparsity"] for r in rows[::3]] == list(TABLE1_SPARSITIES)
    assert rows[-1] == {
        "sparsity": 0.9824,
        "method": "dtc",
        "paper": 0.8391,
        "ours": None,
        "diff": None,
    }
