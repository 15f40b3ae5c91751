"""The width experiment end to end at toy size (regression and classification), and resume."""

from __future__ import annotations

import pytest

from tomoprune.records.io import read_csv
from tomoprune.reproduce.width import WidthConfig, run_width_experiment

TINY = dict(widths=(4, 8), seeds=2, repeats=2, epochs=1, bits=(2,), calibration_size=32,
            rescore_rounds=2)  # fmt: skip


def test_width_experiment_writes_table_nets_and_figures(tmp_path):
    config = WidthConfig(dataset="diabetes", **TINY)
    messages: list[str] = []
    run_width_experiment(config, tmp_path, announce=messages.append)
    table = read_csv(tmp_path / "width_table.csv")
    methods = {(r["architecture"], r["setup"], r["mode"], r["method"]) for r in table}
    assert ("unstructured", "W1", "prune", "greedy") in methods
    assert ("unstructured", "W2", "quant", "gptq") in methods
    assert ("structured", "W2", "prune", "greedy") in methods
    greedy = [r for r in table if r["method"] == "greedy" and r["mode"] == "prune"]
    assert all(int(r["n"]) == 4 for r in greedy)  # 2 seeds x 2 repeats
    assert all(
        float(r["delta_lo"]) <= float(r["delta_mean"]) <= float(r["delta_hi"]) for r in greedy
    )
    nets = read_csv(tmp_path / "nets.csv")
    assert len(nets) == 8 and all(float(n["c1"]) > 0 and float(n["c2"]) > 0 for n in nets)
    for name in ("width_prune_delta", "width_prune_score", "width_quant_delta"):
        assert (tmp_path / f"{name}.png").stat().st_size > 5000
    assert any("diabetes" in m and "regression" in m for m in messages)
    assert "## structured, W2, pruning" in (tmp_path / "width_table.md").read_text()
    # a second call finds every net done and measures nothing again
    before = (tmp_path / "results.csv").read_bytes()
    run_width_experiment(config, tmp_path, announce=messages.append)
    assert (tmp_path / "results.csv").read_bytes() == before


def test_missing_housing_falls_back_to_diabetes_and_says_so(tmp_path):
    config = WidthConfig(dataset="california-housing", data_dir=str(tmp_path / "empty"),
                         **{**TINY, "widths": (4,), "seeds": 1, "architectures": ("structured",)})  # fmt: skip
    messages: list[str] = []
    run_width_experiment(config, tmp_path / "out", announce=messages.append)
    assert "NOT the paper's housing numbers" in messages[0]


@pytest.mark.parametrize("dataset", ["digits"])
def test_width_experiment_on_digits_scores_accuracy(tmp_path, dataset):
    config = WidthConfig(
        dataset=dataset, **{**TINY, "architectures": ("unstructured",), "seeds": 1}
    )
    run_width_experiment(config, tmp_path, announce=lambda m: None)
    table = read_csv(tmp_path / "width_table.csv")
    assert all(0 <= float(r["score_mean"]) <= 1 for r in table)
