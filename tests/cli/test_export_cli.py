"""``tomoprune export RUN_DIR --onnx FILE`` end to end on a small run."""

from tomoprune.cli import main
from tomoprune.fileio import read_json


def test_export_writes_an_onnx_file_that_predicts_like_the_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["run", "--method", "magnitude", "--dataset", "digits", "--hidden", "16"]
    argv += [
        "--set",
        "train.steps_per_cycle=3",
        "--max-cycles",
        "2",
        "--quiet",
        "--out",
        str(run_dir),
    ]
    assert main(argv) == 0
    target = tmp_path / "deploy" / "model.onnx"
    assert main(["export", str(run_dir), "--onnx", str(target), "--samples", "0"]) == 0
    assert "ONNX export checked" in capsys.readouterr().out
    check = read_json(target.parent / "model.onnx.check.json")
    assert check["passed"] and check["argmax_agreement"] == 1.0
    assert check["onnx_accuracy"] == check["torch_accuracy"]
    assert check["samples"] > 300  # every test image of digits
    assert check["bytes"] == target.stat().st_size


def test_export_of_a_missing_run_is_a_one_line_error(tmp_path, capsys):
    code = main(["export", str(tmp_path / "nothing"), "--onnx", str(tmp_path / "m.onnx")])
    assert code == 5
    err = capsys.readouterr().err.strip()
    assert "run directory not found" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists()


def test_export_rejects_a_negative_sample_count(tmp_path, capsys):
    code = main(["export", str(tmp_path), "--onnx", str(tmp_path / "m.onnx"), "--samples", "-1"])
    assert code == 2
    assert "--samples" in capsys.readouterr().err
