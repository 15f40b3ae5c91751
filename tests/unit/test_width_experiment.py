"""The width experiment end to end at toy size (regression and classification), and resume."""

from __future__ import annotations

import json

import pytest
import torch

from tomoprune.errors import ConfigError
from tomoprune.fileio import read_csv
from tomoprune.models.spec import load_model
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
    summary = (tmp_path / "out" / "width_table.md").read_text()
    assert summary.startswith("# Width experiment on diabetes")
    assert "NOT the paper's housing numbers" in summary


@pytest.mark.parametrize("dataset", ["digits"])
def test_width_experiment_on_digits_scores_accuracy(tmp_path, dataset):
    config = WidthConfig(
        dataset=dataset, **{**TINY, "architectures": ("unstructured",), "seeds": 1}
    )
    run_width_experiment(config, tmp_path, announce=lambda m: None)
    table = read_csv(tmp_path / "width_table.csv")
    assert all(0 <= float(r["score_mean"]) <= 1 for r in table)


def test_paper_cnn_on_digits_has_1024_inputs_to_its_classifier():
    from tomoprune.reproduce.width import paper_cnn

    model = paper_cnn((1, 8, 8), 20, 10, seed=0)
    shapes = [tuple(m.weight.shape) for m in model if hasattr(m, "weight")]
    assert shapes == [(20, 1, 3, 3), (16, 20, 3, 3), (10, 1024)]
    assert all(getattr(m, "bias", None) is None for m in model)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert paper_cnn((1, 28, 28), 4, 10, seed=0)[-1].weight.shape == (10, 16 * 28 * 28)


def test_cnn_width_run_writes_k1_and_k2_rows_with_density_of_filters_left(tmp_path):
    config = WidthConfig(
        dataset="digits", architectures=("cnn",), widths=(4, 6), seeds=1, repeats=2, epochs=1,
        calibration_size=32,
    )  # fmt: skip
    run_width_experiment(config, tmp_path, announce=lambda m: None)
    rows = read_csv(tmp_path / "results.csv")
    assert {(r["setup"], r["method"]) for r in rows} == {
        (s, m) for s in ("K1", "K2") for m in ("greedy", "magnitude", "wanda", "ls-refit")
    }
    for row in rows:
        width, seed = int(row["width"]), int(row["seed"])
        net = load_model(*(tmp_path / "nets" / f"cnn-w{width}-s{seed}" / n
                           for n in ("model.safetensors", "model.json")))  # fmt: skip
        assert net[0].weight.shape[0] == width
        # the density is a count of filters over the width
        assert float(row["density"]) * width == pytest.approx(round(float(row["density"]) * width))
        if row["method"] != "greedy":
            assert float(row["density"]) == round(0.37 * width) / width
    greedy = [r for r in rows if r["method"] == "greedy"]
    assert len(greedy) == 2 * 2 * 2  # set-ups x widths x repeats
    assert (tmp_path / "width_prune_delta.png").stat().st_size > 5000


def test_cnn_greedy_k1_filters_and_k2_channels_give_the_same_network_without_biases():
    """Scaling K1's filter i by m >= 0 scales ReLU's channel i by m, which is what scaling
    K2's input channel i does; both set-ups score units by the same energy at K2's output and
    draw the same multipliers, so they are one compression."""
    from tomoprune.methods.greedy.algorithm import greedy_compress
    from tomoprune.methods.greedy.params import GreedyParams
    from tomoprune.reproduce.width import paper_cnn

    model = paper_cnn((1, 8, 8), 12, 10, seed=1).double()
    x = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(0)).double()
    k1 = greedy_compress(model, x, GreedyParams(wide_layers=(), pair_layers=(0,),
                                                structured=True, seed=3)).model  # fmt: skip
    k2 = greedy_compress(model, x, GreedyParams(wide_layers=(1,), structured=True, seed=3)).model
    assert k1[0].weight.shape == k2[0].weight.shape
    torch.testing.assert_close(k1(x), k2(x))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"architectures": ("mlp",)}, ["'mlp'", "unstructured, structured, cnn"]),
        ({"dataset": "diabetes", "architectures": ("cnn",)}, ["needs image data"]),
    ],
)
def test_bad_architectures_get_one_line_errors(tmp_path, changes, words):
    with pytest.raises(ConfigError) as caught:
        run_width_experiment(WidthConfig(**{**TINY, **changes}), tmp_path)
    message = str(caught.value)
    assert "\n" not in message and all(w in message for w in words)


def test_widths_default_to_each_architectures_own():
    from tomoprune.reproduce.width import widths_of

    config = WidthConfig(architectures=("structured", "cnn"))
    assert widths_of(config, "cnn") == (20, 40, 60, 80, 100)
    assert max(widths_of(config, "structured")) == 1000
    assert widths_of(WidthConfig(widths=(5,)), "cnn") == (5,)


@pytest.mark.parametrize(
    "argv",
    [["--set", "architectures=[cnn]"], ["--architectures", "cnn"],
     ["--set", 'architectures=["cnn"]']],
)  # fmt: skip
def test_cli_selects_the_cnn_with_its_own_widths(argv):
    from tomoprune.cli import build_parser
    from tomoprune.cli.width_cmd import width_config

    args = build_parser().parse_args(["reproduce", "width-tradeoff", *argv, "--out", "x"])
    config = width_config(args)
    assert config.architectures == ("cnn",) and config.widths is None


def test_cli_closes_with_one_summary_row_per_set_up(tmp_path, capsys, monkeypatch):
    from tomoprune.cli import main

    monkeypatch.setenv("COLUMNS", "200")  # one table row per line, whatever the terminal
    out = tmp_path / "w"
    code = main(
        ["reproduce", "width-tradeoff", "--dataset", "diabetes", "--architectures", "structured",
         "--widths", "4,8", "--seeds", "1", "--repeats", "2", "--set", "epochs=1",
         "--set", "calibration_size=32", "--threads", "1", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    # the two structured set-ups, each with greedy's fall and the three unit baselines
    assert printed.count("structured, W") == 2
    assert "ls-refit" in printed and "falls" in printed
    assert "width_table.md" in printed and (out / "width_table.md").is_file()
    # the thread count changes the float reductions, so the record says what was used
    record = json.loads((out / "experiment.json").read_text())
    assert record["threads"]["torch_threads"] == 1 and record["threads"]["requested"] == 1
