"""Model choice on the command line: deep MLPs by --hidden, one-line errors for bad widths."""

import json

import pytest
import torch

from tomoprune.cli import main
from tomoprune.fileio import read_csv, read_json
from tomoprune.report.build import cost_table


@pytest.mark.parametrize("bad", ["0", "512,,3", "wide"])
def test_bad_hidden_widths_exit_with_a_config_error(bad, tmp_path, capsys):
    code = main(
        [
            "run",
            "--method",
            "dtc",
            "--dataset",
            "digits",
            "--hidden",
            bad,
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "model.hidden" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_a_deep_mlp_runs_and_records_its_widths(tmp_path):
    out = tmp_path / "deep"
    argv = ["run", "--method", "dense", "--dataset", "digits", "--model", "mlp"]
    argv += ["--hidden", "24,12", "--max-cycles", "1", "--quiet", "--out", str(out)]
    argv += ["--set", "method.regularised_max_steps=3", "--set", "data.validation_size=100"]
    argv += ["--set", "data.train_size=500"]
    assert main(argv) == 0
    config = read_json(out / "config.json")["config"]
    assert config["model"]["hidden"] == [24, 12]
    layers = read_json(out / "model.json")["layers"]
    assert [layer.get("out_features") for layer in layers if layer["type"] == "Linear"] == [
        24,
        12,
        10,
    ]


def test_a_run_records_flops_per_cycle_and_cost_before_and_after(tmp_path, capsys):
    out = tmp_path / "dtc"
    argv = ["run", "--method", "dtc", "--dataset", "digits", "--hidden", "16", "--out", str(out)]
    argv += ["--set", "train.steps_per_cycle=2", "--max-cycles", "2"]
    assert main(argv) == 0
    assert "cost" in capsys.readouterr().out
    rows = read_csv(out / "cycles.csv")
    widths = [int(row["width"]) for row in rows]
    # digits: 64 inputs -> width -> 10 classes
    assert [int(row["flops"]) for row in rows] == [2 * (64 * w + w * 10) for w in widths]
    assert all(float(row["latency_b1_s"]) > 0 and float(row["latency_b256_s"]) > 0 for row in rows)
    summary = read_json(out / "summary.json")
    assert summary["flops_before"] == 2 * (64 * 16 + 16 * 10)
    assert summary["flops_after"] == int(rows[-1]["flops"])
    assert summary["parameters_after"] < summary["parameters_before"]
    assert summary["latency_b1_before_s"] > 0 and summary["latency_b256_after_s"] > 0
    accounting = read_json(out / "accounting.json")
    assert set(accounting) == {"before", "after"}
    assert accounting["after"]["flops_per_module"]["3"] == 2 * widths[-1] * 10
    table = cost_table([out])
    assert table.rows[0][0] == "dtc"
    assert table.rows[0][2] == f"{summary['flops_before']:,} → {summary['flops_after']:,}"


def test_dtc_prunes_the_resnet_with_residual_channels_removed_together(tmp_path):
    from tomoprune.api import load_run_model

    out = tmp_path / "r"
    argv = ["run", "--method", "dtc", "--model", "resnet", "--dataset", "digits"]
    argv += ["--set", "train.steps_per_cycle=2", "--max-cycles", "1", "--out", str(out)]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parameters_after"] < summary["parameters_before"]
    model = load_run_model(out)
    block = model.stages[0][0]
    # the stem's channels and the first stage's output channels meet in a residual addition
    assert model.stem[0].out_channels == block.conv2.out_channels < 16
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
