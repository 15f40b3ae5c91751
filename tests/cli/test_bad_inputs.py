"""Bad input through the real CLI: for each, a non-zero exit code, one line on stderr, no
traceback, and nothing left behind that blocks the corrected command."""

import subprocess
import sys

import pytest

from tomoprune.cli import main

# a run that takes well under a second on the bundled digits data
TINY = ["--dataset", "digits", "--hidden", "12", "--set", "train.steps_per_cycle=2"]


def fails(capsys, argv, code, *words):
    """Run ``argv``; assert the exit code, a single stderr line holding ``words``."""
    assert main(list(argv)) == code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("tomoprune: error: ")
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def then_runs(capsys, argv):
    """The corrected command works where the bad one failed."""
    assert main([*argv, "--max-cycles", "1", "-q"]) == 0, capsys.readouterr().err
    capsys.readouterr()


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("train.lr=-0.001", ["'train.lr'", "positive", "-0.001", "--set train.lr="]),
        ("train.lr=0", ["'train.lr'", "positive", "Got 0.0"]),
        ("train.lr=nan", ["'train.lr'", "positive"]),
        ("train.lr=abc", ["'train.lr'", "a number", "'abc'"]),
        ("train.batch_size=0", ["'train.batch_size'", "at least 1", "Got 0"]),
        ("train.steps_per_cycle=0", ["'train.steps_per_cycle'", "at least 1"]),
        ("train.eval_batch_size=-5", ["'train.eval_batch_size'", "at least 1"]),
        ("data.validation_size=-1", ["'data.validation_size'", "0 or more"]),
        ("train.lrr=1", ["Unknown setting 'train.lrr'", "Did you mean 'train.lr'"]),
        ("method.fraction=1.5", ["'method.fraction'", "between 0 and 1"]),
        ("train.adam=slow", ["'train.adam'", "fused"]),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, capsys, setting, words):
    out = tmp_path / "run"
    argv = ["run", "--method", "dtc", *TINY, "--out", str(out)]
    fails(capsys, [*argv, "--set", setting], 2, *words)
    assert not out.exists()
    then_runs(capsys, argv)


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        (["--hidden", "0"], 2, ["'model.hidden'", "at least 1", "--hidden"]),
        (["--hidden", "5"], 2, ["width (5)", "min_width"]),
        (["--max-cycles", "0"], 2, ["--max-cycles", "positive integer"]),
        (["--max-cycles", "-1"], 2, ["--max-cycles", "positive integer"]),
        (["--threads", "0"], 2, ["--threads", "positive integer or auto"]),
        (["--threads", "many"], 2, ["--threads"]),
        (["--method", "dtcc"], 2, ["Unknown method 'dtcc'", "Did you mean 'dtc'"]),
        (["--dataset", "digit"], 2, ["Did you mean 'digits'", "--dataset"]),
        (["--model", "mpl"], 2, ["Did you mean 'mlp'", "--model"]),
        (["--device", "gpu"], 2, ["'device'", "cpu, cuda or cuda:N"]),
        (["--set", "train.lr"], 2, ["--set expects KEY=VALUE"]),
        (["--config", "/nonexistent/settings.toml"], 2, ["config file not found"]),
        (
            ["--method", "drr", "--set", "method.pmmp_lr=0.1"],
            2,
            ["Unknown setting 'method.pmmp_lr'"],
        ),
        (["--hidden", "100000000"], 2, ["'mlp' model", "parameters", "GiB", "--hidden"]),
    ],
)
def test_bad_options_of_run_get_one_line(tmp_path, capsys, argv, code, words):
    out = tmp_path / "run"
    base = ["run", "--method", "dtc", *TINY, "--out", str(out)]
    fails(capsys, [*base, *argv], code, *words)
    assert not (out / "config.json").exists()


def test_split_sizes_that_do_not_fit_name_both_keys_at_once(tmp_path, capsys):
    argv = ["run", "--method", "pmmp", "--dataset", "digits", "--out", str(tmp_path / "p")]
    argv += ["--set", "data.train_size=45000"]
    line = fails(
        capsys,
        [*argv, "--set", "data.validation_size=5000"],
        2,
        "'data.validation_size'",
        "1436",
        "Got 5000",
    )
    assert "data.train_size" in line  # the second key to change is named in the same message
    line = fails(capsys, [*argv, "--set", "data.validation_size=143"], 2, "'data.train_size'")
    assert "1294" in line and "Got 45000" in line


def test_out_naming_a_file_is_refused_by_every_command(tmp_path, capsys):
    existing = tmp_path / "file.txt"
    existing.write_text("keep me")
    for argv in (
        ["run", "--method", "dtc", *TINY, "--out", str(existing)],
        ["compare", "--methods", "dtc", *TINY, "--out", str(existing)],
        ["reproduce", "l0", "--out", str(existing)],
        ["reproduce", "table1", "--out", str(existing)],
        ["reproduce", "teacher-student", "--out", str(existing)],
        ["analyze", str(tmp_path), "--out", str(existing)],
    ):
        fails(capsys, argv, 2, "'--out'", "is a file")
    assert existing.read_text() == "keep me"


def test_an_empty_idx_file_is_called_empty(tmp_path, capsys):
    folder = tmp_path / "idx"
    folder.mkdir()
    for name in ("train-images", "train-labels", "t10k-images", "t10k-labels"):
        kind = "idx3" if "images" in name else "idx1"
        (folder / f"{name}-{kind}-ubyte").write_bytes(b"")
    argv = ["run", "--method", "dtc", "--dataset", "mnist", "--data-dir", str(folder)]
    fails(capsys, [*argv, "--out", str(tmp_path / "r")], 3, "the file is empty (0 bytes)")


def test_records_that_cannot_be_read_point_to_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["run", "--method", "dtc", *TINY, "--out", str(out)]
    out.mkdir()
    (out / "config.json").write_text("{not json")
    fails(capsys, argv, 5, "config.json", "not valid JSON", "--overwrite")
    then_runs(capsys, [*argv, "--overwrite"])


def test_a_damaged_checkpoint_points_to_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["run", "--method", "dtc", *TINY, "--hidden", "24", "--out", str(out)]
    assert main([*argv, "--max-cycles", "1", "-q"]) == 0
    (out / "checkpoint" / "state.pt").write_bytes(b"damaged")
    fails(capsys, argv, 5, "checkpoint unreadable", "--overwrite")
    then_runs(capsys, [*argv, "--overwrite"])


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        (["run", "--resume", "{tmp}/nowhere"], 5, ["no run to resume"]),
        (["run", "--method", "dtc", *TINY], 2, ["--out RUN_DIR is required"]),
        (["compare", "--methods", ",,", *TINY, "--out", "{tmp}/c"], 2, ["--methods"]),
        (["compare", "--methods", "dtc,magnitud", *TINY, "--out", "{tmp}/c"], 2, ["magnitude"]),
        (["analyze", "{tmp}/nowhere", "--out", "{tmp}/a"], 5, ["not a directory"]),
        (["analyze", "{tmp}", "--out", "{tmp}/a"], 5, ["not a tomoprune run directory"]),
        (["analyze", "--out", "{tmp}/a"], 2, ["No run directory given"]),
        (["analyze", "{tmp}", "--out", "{tmp}/a", "--alpha", "0"], 2, ["'alpha'"]),
        (["analyze", "{tmp}", "--out", "{tmp}/a", "--frac", "2"], 2, ["'frac'"]),
        (["analyze", "{tmp}", "--out", "{tmp}/a", "--histogram-cycles", "a"], 2, ["integers"]),
        (["reproduce", "l0", "--methods", "bogus", "--out", "{tmp}/l"], 2, ["--methods"]),
        (["reproduce", "teacher-student", "--set", "sizes=1", "--out", "{tmp}/t"], 2, ["sizes"]),
        (["reproduce", "teacher-student", "--set", "sizes=x", "--out", "{tmp}/t"], 2, ["integer"]),
        (["reproduce", "teacher-student", "--set", "lr=0", "--out", "{tmp}/t"], 2, ["'lr'"]),
        (["reproduce", "teacher-student", "--set", "foo=1", "--out", "{tmp}/t"], 2, ["'foo'"]),
        (
            ["reproduce", "width-tradeoff", "--architectures", "mlp", "--out", "{tmp}/w"],
            2,
            ["'mlp'", "valid: unstructured, structured, cnn"],
        ),
        (
            [
                "reproduce",
                "width-tradeoff",
                "--set",
                "architectures=[cnn,bogus]",
                "--out",
                "{tmp}/w",
            ],
            2,
            ["'bogus'", "cnn"],
        ),
        (
            [
                "reproduce",
                "width-tradeoff",
                "--dataset",
                "diabetes",
                "--architectures",
                "cnn",
                "--out",
                "{tmp}/w",
            ],
            2,
            ["needs image data"],
        ),
        (["data", "download", "foo"], 2, ["invalid choice"]),
        (["methods", "drrr"], 2, ["Did you mean 'drr'"]),
        (["frobnicate"], 2, ["invalid choice"]),
    ],
)
def test_bad_input_to_every_subcommand_gets_one_line(tmp_path, capsys, argv, code, words):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    fails(capsys, argv, code, *words)


def test_no_library_warning_or_traceback_reaches_the_terminal(tmp_path):
    """In a fresh process (so no warning filter of the test runner applies): --hidden 0 used
    to print a torch warning before the error."""
    entry = "import sys; from tomoprune.cli import main; sys.exit(main())"
    command = [sys.executable, "-c", entry, "run", "--method", "dtc", *TINY]
    done = subprocess.run(
        [*command, "--hidden", "0", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "tomoprune: error: The 'model.hidden' setting must be at least 1. Got 0 instead; "
        "change it with --hidden or --set model.hidden=VALUE."
    ]
