"""``tomoprune reproduce table1`` end to end on a tiny MNIST-shaped dataset (2 steps a cycle)."""

import math

import pytest

from tomoprune.cli import main
from tomoprune.fileio import read_csv, read_json
from tomoprune.reproduce.paper import default_reference_path

pytestmark = pytest.mark.skipif(
    not default_reference_path().is_file(), reason="needs ../shared/reference beside the checkout"
)


def test_reproduce_writes_the_table_the_analysis_and_reuses_finished_runs(tiny_idx_dir, tmp_path):
    out = tmp_path / "t1"
    argv = [
        "reproduce",
        "table1",
        "--data-dir",
        str(tiny_idx_dir),
        "--out",
        str(out),
        "--set",
        "train.steps_per_cycle=2",
        "--quiet",
    ]
    assert main(argv) == 0
    rows = read_csv(out / "table1.csv")
    assert len(rows) == 45
    assert list(rows[0]) == ["sparsity", "method", "paper", "ours", "diff"]
    assert {r["method"] for r in rows} == {"magnitude", "random", "dtc"}
    for row in rows:
        assert abs(float(row["ours"]) - float(row["paper"]) - float(row["diff"])) < 2e-4
    checks = read_json(out / "table1_checks.json")
    assert all(m["widths_match"] for m in checks["methods"].values())
    assert (out / "analysis" / "report.html").is_file()
    correlations = read_csv(out / "correlations.csv")
    assert [r["published"] for r in correlations][:2] == ["0.9174", "0.9412"]
    before = (out / "runs" / "dtc" / "cycles.csv").stat().st_mtime_ns
    # tiny data cannot match the published accuracies, so --strict fails; the runs are reused
    assert main([*argv, "--strict"]) == 6
    assert (out / "runs" / "dtc" / "cycles.csv").stat().st_mtime_ns == before
    # --seeds 2 adds seed 1 of each method and a band per cell; seed 0 is reused
    assert main([*argv, "--seeds", "2", "--workers", "1"]) == 0
    assert (out / "runs" / "dtc" / "cycles.csv").stat().st_mtime_ns == before
    assert (out / "runs" / "dtc__seed=1" / "cycles.csv").is_file()
    rows = read_csv(out / "table1.csv")
    assert len(rows) == 45
    assert list(rows[0])[-7:] == [
        "n_seeds",
        "mean",
        "ci_low",
        "ci_high",
        "pi_low",
        "pi_high",
        "inside",
    ]
    for row in rows:
        assert row["n_seeds"] == "2"
        low, high = float(row["ci_low"]), float(row["ci_high"])
        assert low <= float(row["mean"]) <= high
        # the prediction interval of one run: wider than the mean's by sqrt(n + 1) = sqrt(3)
        p_low, p_high = float(row["pi_low"]), float(row["pi_high"])
        assert p_low <= low and high <= p_high
        assert (p_high - p_low) == pytest.approx(math.sqrt(3) * (high - low), abs=3e-4)
        # the mark compares the printed cell with the printed (rounded) bounds
        assert row["inside"] == str(p_low <= float(row["paper"]) <= p_high)
    checks = read_json(out / "table1_checks.json")
    assert checks["cells_with_band"] == 45
    assert checks["published_inside_band"] == sum(r["inside"] == "True" for r in rows)
    assert (out / "table1_seeds.png").stat().st_size > 10_000
    assert "inside the 95 % prediction interval" in (out / "table1.md").read_text().lower()
