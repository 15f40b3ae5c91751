"""Reading run directories and analysing them, including incomplete and broken ones."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from tomoprune.analysis.gibbs import GIBBS_FILE, AnalysisSettings, analyze_runs
from tomoprune.analysis.runs import config_summary, load_analysis_run
from tomoprune.errors import RecordError
from tomoprune.fileio import atomic_write_csv, atomic_write_json
from tomoprune.records.schema import CYCLE_COLUMNS
from tomoprune.report import write_report
from tomoprune.reproduce.correlations import DTC_PAPER

FAST = AnalysisSettings(n_permutations=50, n_bootstrap=50, n_null_draws=8, figures=False)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_run_dir(
    path, method="dtc", *, cycles=12, width=120, measurements=True, seed=0, accuracy=None
):
    """A fake run directory in the record format: 10 % of units removed per cycle."""
    rng = np.random.default_rng(seed)
    widths, w = [], width
    for _ in range(cycles):
        w = w - max(1, w // 10)
        widths.append(w)
    widths = np.array(widths)
    sparsity = 1 - widths / width
    acc = 0.97 - 0.3 * sparsity**6 + rng.normal(0, 0.005, cycles) if accuracy is None else accuracy
    rows = [
        {
            "cycle": i + 1,
            "width": int(widths[i]),
            "sparsity": float(sparsity[i]),
            "test_accuracy": None if acc[i] is None or math.isnan(acc[i]) else float(acc[i]),
        }
        for i in range(cycles)
    ]
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        path / "config.json",
        {
            "format": 1,
            "method": method,
            "profile": "corrected",
            "status": "finished",
            "config": {"data": {"dataset": "mnist"}},
            "seeds": {"init_seed": 7},
            "provenance": {
                "packages": {"torch": "2.13.0"},
                "git": {"commit": "abc123", "dirty": False},
            },
        },
    )
    atomic_write_csv(path / "cycles.csv", [*CYCLE_COLUMNS, "extra_text"], rows)
    if measurements:
        before = np.concatenate([[width], widths[:-1]])
        entries = []
        for i in range(cycles):
            m, n = int(before[i]), max(1, int(before[i]) // 10)
            coef = rng.normal(0, 1, m) * (rng.random(m) < 0.5)
            entries.append(
                {
                    "cycle": i + 1,
                    "width_before": m,
                    "n_measurements": n,
                    "measurements": {
                        "previous_layer": list(rng.normal(0, 30, n)),
                        "next_layer": list(rng.normal(0, 4, n)),
                    },
                    "coefficients": {"previous_layer": list(coef), "next_layer": list(coef)},
                    "scores": list(2 * coef),
                }
            )
        atomic_write_json(
            path / "measurements.json",
            {"layers": ["previous_layer", "next_layer"], "cycles": entries},
        )
    return path


def test_load_run_reads_columns_config_and_measurements(tmp_path):
    run = load_analysis_run(make_run_dir(tmp_path / "dtc-run"))
    assert run.name == "dtc-run" and run.method == "dtc"
    assert list(run.cycle) == list(range(1, 13))
    assert run.width[0] == 108 and run.sparsity[0] == pytest.approx(0.1)
    assert len(run.measurements) == 12 and run.measurements[0].scores.size == 120
    summary = config_summary(run.config)
    assert (summary["dataset"], summary["seeds"], summary["git_commit"]) == (
        "mnist",
        "init_seed=7",
        "abc123",
    )
    assert summary["versions"] == "torch=2.13.0"


@pytest.mark.parametrize("what", ["missing", "empty_dir", "no_cycles", "bad_json"])
def test_a_directory_that_is_not_a_run_raises_one_line_record_error(tmp_path, what):
    path = tmp_path / "x"
    if what != "missing":
        path.mkdir()
    if what in ("no_cycles", "bad_json"):
        (path / "config.json").write_text("{" if what == "bad_json" else "{}")
    if what == "bad_json":
        (path / "cycles.csv").write_text("cycle,sparsity,test_accuracy\n1,0.1,0.9\n")
    with pytest.raises(RecordError) as info:
        load_analysis_run(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_run_without_measurements_gets_notes_and_accuracy_only(tmp_path):
    mag = make_run_dir(tmp_path / "mag", method="magnitude", measurements=False)
    doc = analyze_runs([mag], FAST, out_dir=tmp_path / "out")
    written = json.loads((tmp_path / "out" / GIBBS_FILE).read_text())
    assert written["correlations"] == [] and written["null_models"] == []
    assert any("no measurements.json" in n for n in written["notes"])
    assert any("None of the runs recorded measurement vectors" in n for n in written["notes"])
    assert "Gibbs entropy" in doc["runs"][0]["cannot_compute"]
    assert written["runs"][0]["cycles"][0]["accuracy_lowess"] is not None


def test_missing_values_are_reported_and_dropped_but_the_rest_is_computed(tmp_path):
    acc = list(0.97 - 0.3 * np.linspace(0.1, 0.7, 12) ** 6)
    acc[3] = float("nan")
    dtc = make_run_dir(tmp_path / "dtc", accuracy=acc)
    doc_m = json.loads((dtc / "measurements.json").read_text())
    doc_m["cycles"][6]["measurements"]["next_layer"][0] = None
    atomic_write_json(dtc / "measurements.json", doc_m)
    mag = make_run_dir(tmp_path / "mag", method="magnitude", measurements=False, seed=1)
    doc = analyze_runs([dtc, mag], FAST, out_dir=tmp_path / "out")
    text = (tmp_path / "out" / GIBBS_FILE).read_text()
    assert "NaN" not in text
    assert any("test_accuracy is missing" in n and "[4]" in n for n in doc["notes"])
    assert any("next_layer measurements hold missing" in n and "[7]" in n for n in doc["notes"])
    pair = next(
        c for c in doc["correlations"] if c["layer"] == "next_layer" and c["accuracy_run"] == "dtc"
    )
    primary = pair["correlations"]["pearson_smoothed"]
    assert primary["n_dropped"] == 2 and primary["dropped_cycles"] == [4, 7]
    assert primary["r"] is not None and len(pair["verdicts"]) == 7
    cycle7 = doc["runs"][0]["cycles"][6]["entropy"]["next_layer"]
    assert cycle7["value"] is None and "not finite" in cycle7["undefined_reason"]
    assert len(doc["correlations"]) == 2  # 2 layers, each run only with itself


def test_cross_pairs_only_when_asked_and_a_runs_numbers_do_not_depend_on_the_others(tmp_path):
    dtc = make_run_dir(tmp_path / "dtc")
    mag = make_run_dir(tmp_path / "mag", method="magnitude", measurements=False, seed=1)
    alone = analyze_runs([dtc], FAST)
    beside = analyze_runs([mag, dtc], FAST)
    crossed = analyze_runs([dtc, mag], dataclasses.replace(FAST, cross_pairs=True))
    assert len(beside["correlations"]) == 2 and len(crossed["correlations"]) == 4

    def controls(doc):
        return [
            (c["layer"], c["controls"]["block_bootstrap"], c["controls"]["permutation"])
            for c in doc["correlations"]
            if c["accuracy_run"] == "dtc"
        ]

    assert controls(alone) == controls(beside) == controls(crossed)


def test_correlations_over_few_cycles_are_flagged(tmp_path):
    doc = analyze_runs([make_run_dir(tmp_path / "dtc")], FAST)
    n = doc["correlations"][0]["correlations"]["pearson_smoothed"]["n_used"]
    assert n < 20
    flagged = analyze_runs([tmp_path / "dtc"], dataclasses.replace(FAST, min_points=n + 1))
    assert all(c["too_few_points"] for c in flagged["correlations"])
    assert "too few points" in flagged["correlations"][0]["verdicts"][0]
    assert not any(c["too_few_points"] for c in doc["correlations"]) or n < 10


def test_ray_statistics_use_scores_and_coefficients(tmp_path):
    doc = analyze_runs([make_run_dir(tmp_path / "dtc")], FAST)
    rays = doc["runs"][0]["cycles"][0]["rays"]
    scores = np.array(
        json.loads((tmp_path / "dtc" / "measurements.json").read_text())["cycles"][0]["scores"]
    )
    assert rays["mean_abs_over_len"] == pytest.approx(np.mean(np.abs(scores)) / scores.size)
    coef = rays["coefficients"]["previous_layer"]
    assert coef["zero_share"] == pytest.approx(np.mean(scores == 0))
    assert coef["l1"] == pytest.approx(np.abs(scores).sum() / 2)


def test_analysis_is_reproducible_for_a_seed(tmp_path):
    dtc = make_run_dir(tmp_path / "dtc")
    one = analyze_runs([dtc], FAST)
    two = analyze_runs([dtc], FAST)
    assert one["correlations"] == two["correlations"]


def test_report_writes_markdown_and_self_contained_html(tmp_path):
    dtc = make_run_dir(tmp_path / "dtc")
    mag = make_run_dir(tmp_path / "magnitude", method="magnitude", measurements=False, seed=2)
    settings = AnalysisSettings(
        n_permutations=30, n_bootstrap=30, n_null_draws=5, histogram_indices=(1, 3)
    )
    paths = write_report([mag, dtc], tmp_path / "out", settings, paper=DTC_PAPER)
    doc = json.loads(paths["gibbs"].read_text())
    assert len(doc["figures"]) == 6
    for rel in doc["figures"]:
        assert (tmp_path / "out" / rel).read_bytes()[:8] == PNG_MAGIC
    md = paths["markdown"].read_text()
    html = paths["html"].read_text()
    assert "](figures/accuracy_vs_sparsity.png)" in md and "The paper's correlations" in md
    assert html.count("data:image/png;base64,") == 6
    assert 'src="figures' not in html and "http" not in html.lower().replace("<!doctype html>", "")
    assert "<style>" in html and "abc123" in html
