"""Model choice on the command line: deep MLPs by --hidden, one-line errors for bad widths."""

import pytest

from tomoprune.cli import main
from tomoprune.records.io import read_json


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
