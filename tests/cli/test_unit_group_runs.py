"""LeNet-5 from the CLI with every unit group pruned: records per group, resume, analyze, reload."""

import json

import torch

from tomoprune import load_run_model
from tomoprune.cli import main
from tomoprune.data.datasets import load_dataset
from tomoprune.engine.train import evaluate
from tomoprune.fileio import read_csv
from tomoprune.records.schema import WALL_CLOCK_COLUMNS

TIMING = WALL_CLOCK_COLUMNS
LENET = [
    "--model",
    "lenet5",
    "--dataset",
    "mnist",
    "--set",
    "train.steps_per_cycle=2",
    "--set",
    "train.batch_size=32",
    "--set",
    "train.eval_batch_size=100",
    "--set",
    "method.fraction=0.5",
    "--quiet",
]


def measured(rows):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def test_lenet5_dtc_prunes_conv_channels_and_fc_units_together(tiny_idx_dir, tmp_path, capsys):
    data = ["--data-dir", str(tiny_idx_dir)]
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert main(["run", "--method", "dtc", *data, *LENET, "--out", str(whole)]) == 0
    rows = read_csv(whole / "cycles.csv")
    widths = [(int(r["width_0"]), int(r["width_2"]), int(r["width_5"])) for r in rows]
    assert widths[0] == (10, 25, 250)  # conv 1 channels, conv 2 channels, fc units
    assert all(w <= 10 for w in widths[-1])
    assert all(
        int(r["parameters"]) > int(s["parameters"]) for r, s in zip(rows, rows[1:], strict=False)
    )
    cycles = json.loads((whole / "measurements.json").read_text())["cycles"]
    assert set(cycles[0]["groups"]) == {"0", "2", "5"}
    assert set(cycles[-1]["groups"]) == {"5"}  # the other groups reached min_width earlier

    # an interrupted run resumed from its checkpoint equals the uninterrupted one
    assert (
        main(["run", "--method", "dtc", *data, *LENET, "--max-cycles", "2", "--out", str(part)])
        == 0
    )
    assert main(["run", "--resume", str(part), "--quiet"]) == 0
    assert measured(read_csv(part / "cycles.csv")) == measured(rows)

    # the Gibbs analysis runs per group
    capsys.readouterr()
    assert (
        main(
            [
                "analyze",
                str(whole),
                "--out",
                str(tmp_path / "an"),
                "--no-figures",
                "--permutations",
                "50",
                "--bootstrap",
                "50",
                "--null-draws",
                "20",
            ]
        )
        == 0
    )
    gibbs = json.loads((tmp_path / "an" / "gibbs.json").read_text())
    series = {c["entropy_run"] for c in gibbs["correlations"]}
    assert series == {"whole:0", "whole:2", "whole:5"}

    # original architecture + recorded removal + weights = the same test accuracy, exactly
    model = load_run_model(whole).eval()
    test = load_dataset("mnist", tiny_idx_dir)
    accuracy = evaluate(
        model, test.test_x, test.test_y, kind="classification", batch_size=100
    ).accuracy
    summary = json.loads((whole / "summary.json").read_text())
    assert accuracy == summary["final_test_accuracy"]
    assert [tuple(p.shape) for p in model.parameters()][0] == (int(rows[-1]["width_0"]), 1, 5, 5)
    assert torch.is_tensor(next(model.parameters()))
