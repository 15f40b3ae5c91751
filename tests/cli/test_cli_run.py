"""The CLI end to end on a tiny IDX dataset: run, resume, compare, bad input."""

import json

import pytest
import torch

from tomoprune.cli import main
from tomoprune.fileio import read_csv
from tomoprune.records.schema import WALL_CLOCK_COLUMNS

TIMING = WALL_CLOCK_COLUMNS
FAST = [
    "--set",
    "model.hidden=24",
    "--set",
    "train.steps_per_cycle=4",
    "--set",
    "train.batch_size=64",
    "--set",
    "train.eval_batch_size=100",
]


def measured(rows):
    """cycles.csv without its wall-clock columns (the only ones that may differ between runs)."""
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def run(*argv):
    return main(list(argv))


def test_run_writes_a_complete_run_directory(tiny_idx_dir, tmp_path, capsys):
    out = tmp_path / "dtc"
    code = run(
        "run",
        "--method",
        "dtc",
        "--dataset",
        "mnist",
        "--data-dir",
        str(tiny_idx_dir),
        *FAST,
        "--out",
        str(out),
        "--quiet",
    )
    assert code == 0
    assert capsys.readouterr().out.strip() == str(out)
    for name in (
        "config.json",
        "cycles.csv",
        "phases.csv",
        "measurements.json",
        "summary.json",
        "model.safetensors",
        "model.json",
        "checkpoint/state.pt",
    ):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["status"] == "finished"
    assert config["config"]["params"]["lam"] == 0.3
    recorded = config["provenance"]["packages"]["torch"]
    assert recorded and torch.__version__.startswith(recorded)  # the installed torch
    cpu = config["provenance"]["cpu"]
    assert cpu["model"] and cpu["logical_cores"] >= 1
    rows = read_csv(out / "cycles.csv")
    assert [int(r["width"]) for r in rows] == [21, 18, 16, 14, 12, 10]


def test_same_command_gives_the_same_numbers(tiny_idx_dir, tmp_path):
    for name in ("a", "b"):
        assert (
            run(
                "run",
                "--method",
                "random",
                "--dataset",
                "mnist",
                "--data-dir",
                str(tiny_idx_dir),
                *FAST,
                "--out",
                str(tmp_path / name),
                "--quiet",
            )
            == 0
        )
    assert measured(read_csv(tmp_path / "a/cycles.csv")) == measured(
        read_csv(tmp_path / "b/cycles.csv")
    )


def test_resume_after_interruption_equals_an_uninterrupted_run(tiny_idx_dir, tmp_path):
    common = ["--method", "magnitude", "--dataset", "mnist", "--data-dir", str(tiny_idx_dir), *FAST]
    assert run("run", *common, "--out", str(tmp_path / "whole"), "--quiet") == 0
    assert (
        run("run", *common, "--out", str(tmp_path / "split"), "--max-cycles", "2", "--quiet") == 0
    )
    assert len(read_csv(tmp_path / "split/cycles.csv")) == 2
    assert json.loads((tmp_path / "split/config.json").read_text())["status"] == "stopped"
    assert run("run", "--resume", str(tmp_path / "split"), "--quiet") == 0
    assert measured(read_csv(tmp_path / "split/cycles.csv")) == measured(
        read_csv(tmp_path / "whole/cycles.csv")
    )


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["--set", "train.lrr=0.1"], 2, "Did you mean 'train.lr'"),
        (["--set", "method.fraction=1.5"], 2, "method.fraction"),
        (["--set", "train.shuffle=maybe"], 2, "true or false"),
        (["--profile", "corrected", "--set", "model.hidden=8"], 2, "min_width"),
    ],
)
def test_bad_settings_get_one_clear_line(tiny_idx_dir, tmp_path, capsys, argv, code, needle):
    result = run(
        "run",
        "--method",
        "dtc",
        "--dataset",
        "mnist",
        "--data-dir",
        str(tiny_idx_dir),
        "--out",
        str(tmp_path / "x"),
        "--quiet",
        *argv,
    )
    err = capsys.readouterr().err.strip()
    assert result == code
    assert needle in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_missing_data_directory_is_a_data_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TOMOPRUNE_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    result = run(
        "run",
        "--method",
        "magnitude",
        "--dataset",
        "mnist",
        "--data-dir",
        str(tmp_path / "missing"),
        "--out",
        str(tmp_path / "x"),
        "--quiet",
    )
    err = capsys.readouterr().err.strip()
    assert result == 3
    assert "tomoprune data download mnist" in err and len(err.splitlines()) == 1


def test_the_same_command_reuses_a_finished_run_and_other_settings_are_refused(
    tiny_idx_dir, tmp_path, capsys
):
    args = [
        "run",
        "--method",
        "random",
        "--dataset",
        "mnist",
        "--data-dir",
        str(tiny_idx_dir),
        *FAST,
        "--out",
        str(tmp_path / "r"),
        "--quiet",
    ]
    assert run(*args) == 0
    before = (tmp_path / "r" / "cycles.csv").read_bytes()
    assert run(*args) == 0  # finished: reused, nothing recomputed
    assert (tmp_path / "r" / "cycles.csv").read_bytes() == before
    assert run(*args, "--set", "method.fraction=0.2") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert run(*args, "--set", "method.fraction=0.2", "--overwrite") == 0


def test_compare_runs_each_method_and_writes_the_side_by_side_table(tmp_path, capsys):
    out = tmp_path / "cmp"
    code = run(
        "compare",
        "--methods",
        "dtc,magnitude,random",
        "--dataset",
        "digits",
        "--hidden",
        "24",
        "--set",
        "train.steps_per_cycle=4",
        "--out",
        str(out),
    )
    assert code == 0
    rows = read_csv(out / "comparison.csv")
    assert list(rows[0]) == ["cycle", "width", "sparsity", "dtc", "magnitude", "random"]
    assert len(rows) == 6
    printed = capsys.readouterr().out
    assert str(out.resolve()) in printed.replace("\n", "")
    # the report answers first: the verdict, then the method table
    report = (out / "report" / "report.md").read_text()
    assert report.index("Mean test accuracy over the cycles") < report.index("| run | method |")
    assert report.index("| run | method |") < report.index("## Detail")
    assert "Not comparable" in report  # digits, corrected profile: not the paper's setting
    run_dirs = [str(out / m) for m in ("dtc", "magnitude", "random")]
    assert run("analyze", *run_dirs, "--out", str(tmp_path / "a"), "--no-figures") == 0


def test_methods_lists_every_method_and_profile(capsys):
    assert run("methods") == 0
    printed = capsys.readouterr().out
    for word in ("dtc", "magnitude", "random", "reference", "corrected", "train.lr"):
        assert word in printed


def test_methods_name_describes_only_that_methods_settings(capsys):
    assert run("methods", "dtc") == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "method.lam " in line]
    assert lines and "lambda" in lines[0]  # the setting, its default and what it does
    assert run("methods", "drr") == 0
    printed = capsys.readouterr().out
    assert "method.beta" in printed and "pmmp_" not in printed and "u0" not in printed
    assert run("methods", "pmmp") == 0
    assert "method.pmmp_lr" in capsys.readouterr().out


def test_compare_refuses_to_reuse_runs_made_with_other_settings(tmp_path, capsys):
    common = [
        "compare",
        "--methods",
        "random",
        "--dataset",
        "digits",
        "--out",
        str(tmp_path),
        "--set",
        "train.steps_per_cycle=2",
        "--quiet",
    ]
    assert run(*common, "--hidden", "16") == 0
    assert run(*common, "--hidden", "16") == 0  # same settings: reused
    assert run(*common, "--hidden", "20") == 2
    assert "model.hidden" in capsys.readouterr().err
