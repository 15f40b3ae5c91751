"""``tomoprune reproduce l0`` and ``reproduce teacher-student`` end to end on tiny data."""

import pytest

from tomoprune.cli import main
from tomoprune.fileio import read_csv
from tomoprune.methods.l0.sparse_export import read_sparse_export
from tomoprune.reproduce import l0

TINY = [
    "--set", "data.validation_size=100",
    "--set", "data.train_size=none",
    "--set", "train.batch_size=100",
    "--set", "method.regularised_max_steps=12",
    "--set", "method.finetune_max_steps=6",
    "--set", "method.eval_every=3",
    "--set", "method.gradient_prune_samples=32",
]  # fmt: skip


def test_reproduce_l0_writes_the_table_and_an_export_per_method(tiny_idx_dir, tmp_path, capsys):
    out = tmp_path / "l0"
    argv = ["reproduce", "l0", "--data-dir", str(tiny_idx_dir), "--out", str(out), *TINY, "-q"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == str(out)
    rows = read_csv(out / l0.TABLE_CSV)
    assert [r["method"] for r in rows] == list(l0.METHODS)
    for row in rows:
        cycles = read_csv(out / "runs" / row["method"] / "cycles.csv")
        nnz, parameters = int(cycles[-1]["nonzero_parameters"]), 266610  # LeNet-300-100
        assert (int(row["nnz"]), int(row["parameters"])) == (nnz, parameters)
        assert float(row["compression_ratio"]) == pytest.approx(parameters / nnz)
        export = read_sparse_export(out / "runs" / row["method"] / "model.sparse.safetensors")
        assert sum(int((a != 0).sum()) for a in export.values()) == nnz
    dense = rows[0]
    assert float(dense["compression_ratio"]) == 1.0 and float(dense["accuracy_drop_pp"]) == 0.0
    # epochs = steps * batch / 500 training samples (600 - 100 for validation)
    assert float(dense["epochs"]) == pytest.approx(int(dense["train_steps"]) * 100 / 500)
    assert "| dense |" in (out / l0.TABLE_MD).read_text()

    # a second call reuses the finished runs and rewrites the same table
    before = (out / "runs" / "drr" / "cycles.csv").stat().st_mtime_ns
    assert main(argv) == 0
    assert (out / "runs" / "drr" / "cycles.csv").stat().st_mtime_ns == before
    assert read_csv(out / l0.TABLE_CSV) == rows

    # every run directory the command wrote is one `analyze` accepts
    run_dirs = [str(out / "runs" / method) for method in l0.METHODS]
    assert main(["analyze", *run_dirs, "--out", str(tmp_path / "a"), "--no-figures"]) == 0


def test_reproduce_l0_rejects_an_unknown_method_in_one_line(tmp_path, capsys):
    argv = ["reproduce", "l0", "--out", str(tmp_path), "--methods", "drr,dtc"]
    assert main(argv) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'--methods' option must list some of" in err


def test_reproduce_teacher_student_writes_table_and_figure(tmp_path, capsys):
    out = tmp_path / "ts"
    settings = [
        "sizes=20,40", "seeds=0", "test_size=50", "method.regularised_max_steps=20",
        "method.finetune_max_steps=10", "method.eval_every=5", "method.patience=2",
        "method.gradient_prune_samples=16",
    ]  # fmt: skip
    argv = ["reproduce", "teacher-student", "--out", str(out), "-q"]
    for item in settings:
        argv += ["--set", item]
    assert main(argv) == 0
    rows = read_csv(out / "teacher_student.csv")
    assert [(r["size"], r["setting"]) for r in rows] == [
        ("20", "regularised"),
        ("20", "unregularised"),
        ("40", "regularised"),
        ("40", "unregularised"),
    ]
    assert (out / "teacher_student.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (out / "teacher_student.md").read_text()
    assert "Paper's expectation" in summary and "of 1 seeds" in summary
    run_dirs = sorted(str(p.parent) for p in out.glob("*/config.json"))
    assert len(run_dirs) == 4
    for run_dir in run_dirs:  # complete records, read by `analyze`
        for name in ("config.json", "cycles.csv", "summary.json", "model.safetensors"):
            assert (out / run_dir / name).is_file(), name
    assert main(["analyze", *run_dirs, "--out", str(tmp_path / "a"), "--no-figures"]) == 0
    capsys.readouterr()
    before = (out / run_dirs[0] / "cycles.csv").read_bytes()
    assert main(argv) == 0  # the same command again reuses the finished students
    assert (out / run_dirs[0] / "cycles.csv").read_bytes() == before


def test_an_l0_method_runs_on_digits_with_its_default_split(tmp_path):
    from tomoprune.cli import main
    from tomoprune.fileio import read_json

    out = tmp_path / "drr"
    argv = ["run", "--method", "drr", "--dataset", "digits", "--out", str(out), "--quiet"]
    argv += ["--set", "method.regularised_max_steps=20", "--set", "method.finetune_max_steps=10"]
    argv += ["--set", "method.eval_every=10"]
    assert main(argv) == 0
    config = read_json(out / "config.json")
    assert config["status"] == "finished"
    assert config["config"]["data"]["validation_fraction"] == 1 / 12
