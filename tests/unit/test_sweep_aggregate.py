"""Aggregation over seeds against hand-computed means, intervals and tests."""

import math

import numpy as np
import pytest

from tomoprune.records.io import atomic_write_csv, atomic_write_json, read_csv
from tomoprune.sweeps import stats
from tomoprune.sweeps.aggregate import aggregate_sweep

# Student t quantile 0.975 with 2 degrees of freedom, closed form for df = 2:
# t_p = (2p - 1) sqrt(2 / (4 p (1 - p)))
T_975_2 = 0.95 * math.sqrt(2 / (4 * 0.975 * 0.025))


def test_t_interval_matches_the_textbook_formula():
    ci = stats.t_interval([1.0, 2.0, 3.0])
    assert ci.n == 3 and ci.mean == 2.0 and ci.sd == 1.0
    assert ci.low == pytest.approx(2.0 - T_975_2 / math.sqrt(3), abs=1e-12)
    assert ci.high == pytest.approx(2.0 + T_975_2 / math.sqrt(3), abs=1e-12)
    one = stats.t_interval([0.5, float("nan")])
    assert (one.n, one.mean, one.low, one.high) == (1, 0.5, None, None)


def test_wilcoxon_exact_p_when_every_seed_favours_one_method():
    # five positive differences without ties: W- = 0, exact two-sided p = 2 / 2**5
    d = stats.paired_difference([0.91, 0.92, 0.93, 0.94, 0.95], [0.9] * 5)
    assert d.wilcoxon_p == pytest.approx(2 / 32)
    assert d.mean == pytest.approx(0.03)
    assert (d.wins, d.losses, d.n) == (5, 0, 5)
    assert 0.01 <= d.boot_low < d.mean < d.boot_high <= 0.05


def test_bootstrap_interval_agrees_with_the_t_interval_for_many_normal_seeds():
    x = np.random.default_rng(0).normal(0.02, 0.01, size=400)
    d = stats.paired_difference(x, np.zeros_like(x))
    assert d.boot_low == pytest.approx(d.t_low, abs=2e-4)
    assert d.boot_high == pytest.approx(d.t_high, abs=2e-4)


def test_identical_methods_give_a_zero_difference_and_no_test():
    d = stats.paired_difference([0.9, 0.8], [0.9, 0.8])
    assert (d.mean, d.boot_low, d.boot_high, d.wilcoxon_p) == (0.0, 0.0, 0.0, None)


def test_fisher_pooling_keeps_correlations_inside_minus_one_to_one():
    ci = stats.fisher_interval([0.9, 0.95, 0.99])
    assert -1 < ci.low < ci.mean < ci.high < 1
    z = np.arctanh([0.9, 0.95, 0.99])
    assert ci.mean == pytest.approx(math.tanh(z.mean()))


def write_run(folder, name, method, seed, sparsity, accuracy):
    run = folder / "runs" / name
    atomic_write_json(run / "config.json", {"status": "finished", "method": method})
    rows = [
        {"cycle": i + 1, "width": 10 - i, "sparsity": s, "test_accuracy": a}
        for i, (s, a) in enumerate(zip(sparsity, accuracy, strict=True))
    ]
    atomic_write_csv(run / "cycles.csv", ["cycle", "width", "sparsity", "test_accuracy"], rows)
    return {"name": name, "axes": {"method": method, "seed": seed}, "method": method, "seed": seed}


@pytest.fixture()
def sweep_dir(tmp_path):
    sparsity = [0.5, 0.8, 0.9, 0.95]
    acc = {
        "dtc": [[0.90, 0.85, 0.80, 0.70], [0.92, 0.86, 0.82, 0.74], [0.91, 0.84, 0.78, 0.72]],
        "random": [[0.91, 0.84, 0.76, 0.66], [0.92, 0.85, 0.80, 0.70], [0.90, 0.83, 0.77, 0.69]],
    }
    runs = [
        write_run(tmp_path, f"method={m}__seed={s}", m, s, sparsity, acc[m][s])
        for m in acc
        for s in range(3)
    ]
    spec = {"name": "hand", "seeds": [0, 1, 2], "base": {}, "axes": {"method": ["dtc", "random"]}}
    atomic_write_json(
        tmp_path / "sweep.json", {"format": "tomoprune.sweep/1", "spec": spec, "runs": runs}
    )
    return tmp_path, acc


def test_sweep_aggregate_means_intervals_and_pooled_difference_by_hand(sweep_dir):
    folder, acc = sweep_dir
    summary = aggregate_sweep(folder, gibbs=False)
    rows = read_csv(folder / "aggregate" / "accuracy.csv")
    cell = next(
        r for r in rows if r["method"] == "dtc" and r["cycle"] == "4" and r["quantity"] == "raw"
    )
    values = [0.70, 0.74, 0.72]  # mean 0.72, sd 0.02
    assert float(cell["mean"]) == pytest.approx(0.72)
    assert float(cell["ci_low"]) == pytest.approx(0.72 - T_975_2 * 0.02 / math.sqrt(3))
    assert float(cell["sd"]) == pytest.approx(np.std(values, ddof=1))
    # pooled above 0.85: per seed, the mean over the cycles at 0.9 and 0.95
    pooled = next(r for r in summary["pooled_comparisons"] if (r["a"], r["b"]) == ("dtc", "random"))
    per_seed = [
        np.mean(acc["dtc"][s][2:]) - np.mean(acc["random"][s][2:]) for s in range(3)
    ]  # 0.04, 0.03, 0.02
    assert pooled["mean"] == pytest.approx(np.mean(per_seed))
    assert pooled["t_low"] == pytest.approx(0.03 - T_975_2 * 0.01 / math.sqrt(3))
    assert pooled["wilcoxon_p"] == pytest.approx(2 / 8)  # exact: three positive differences
    assert pooled["boot_low"] >= 0.02 - 1e-12 and pooled["boot_high"] <= 0.04 + 1e-12
    assert summary["sentences"][0].startswith(
        "Above 85% sparsity, DTC is better than random by 3.00 points"
    )
    assert "over 3 seeds" in summary["sentences"][0]
    assert (folder / "aggregate" / "figures" / "accuracy_all.png").stat().st_size > 10_000
    assert "Student t" in summary["interval"]


def test_unfinished_runs_are_left_out_and_said_so(sweep_dir):
    folder, _ = sweep_dir
    atomic_write_json(folder / "runs" / "method=dtc__seed=2" / "config.json", {"status": "running"})
    summary = aggregate_sweep(folder, gibbs=False, figures=False)
    assert summary["n_runs_finished"] == 5
    assert any("method=dtc__seed=2" in n for n in summary["notes"])
    pooled = summary["pooled_comparisons"][0]
    assert pooled["n"] == 2
