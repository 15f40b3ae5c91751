"""The width experiment's markdown tables say what the summary CSV says."""

from __future__ import annotations

from tomoprune.reproduce.width_report import render_width_markdown


def _row(method, width, delta, score, setup="W1", mode="prune", bits=""):
    return {
        "dataset": "digits", "architecture": "unstructured", "setup": setup, "mode": mode,
        "bits": bits, "method": method, "width": width, "n": 4,
        "delta_mean": delta, "delta_lo": delta / 2, "delta_hi": delta * 2,
        "score_mean": score, "score_lo": score - 0.1, "score_hi": score,
        "density_mean": 0.37, "dense_score_mean": 0.98, "output_mse_mean": delta * 1e4,
    }  # fmt: skip


def test_markdown_has_one_table_per_setup_with_bands_and_the_fall_factor():
    table = [
        _row("greedy", 10, 1e-3, 0.6),
        _row("magnitude", 10, 2e-4, 0.9),
        _row("greedy", 1000, 1e-5, 0.95),
        _row("magnitude", 1000, 4e-6, 0.97),
        _row("greedy", 10, 5e-4, 0.8, mode="quant", bits="2"),
        _row("rtn", 10, 5e-4, 0.8, mode="quant", bits="2"),
    ]
    text = render_width_markdown(table, dataset="digits", kind="classification")
    assert "## unstructured, W1, pruning" in text
    assert "## unstructured, W1, quantization, 2 bits" in text
    # greedy's column comes first, each cell "mean [2.5 %, 97.5 %]"
    assert "| 10 | 0.980 | 0.001 [0.0005, 0.002] | 0.0002 [0.0001, 0.0004] |" in text
    # 1e-3 -> 1e-5 is a 100-fold fall; 1e-5 / 4e-6 = 2.5 against magnitude
    assert "falls 100x" in text and "magnitude 2.5x" in text
    assert "unnormalised output MSE 10 -> 0.1 (100x)" in text
    # a set-up measured at one width gets no fall line
    assert "quantization, 2 bits: greedy Delta" not in text


def test_regression_tables_name_r_squared():
    table = [_row("greedy", 10, 1e-3, 0.3), _row("greedy", 100, 1e-4, 0.4)]
    text = render_width_markdown(table, dataset="diabetes", kind="regression")
    assert "greedy R^2" in text and "accuracy" not in text
