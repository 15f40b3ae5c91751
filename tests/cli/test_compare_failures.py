"""``compare`` runs through the sweep executor: a failing method is recorded, the others
finish, the exit code says so, and the same command later finishes the failed one."""

from tomoprune.cli import main
from tomoprune.engine.compress import CompressionLoop
from tomoprune.fileio import read_csv, read_json
from tomoprune.records.schema import WALL_CLOCK_COLUMNS

TINY = ["--dataset", "digits", "--hidden", "24", "--set", "train.steps_per_cycle=3"]


def measured(path):
    return [{k: v for k, v in row.items() if k not in WALL_CLOCK_COLUMNS} for row in read_csv(path)]


def test_a_failing_method_does_not_stop_the_others_and_a_rerun_finishes_it(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "cmp"
    argv = ["compare", "--methods", "random,magnitude", *TINY, "--out", str(out), "-q"]
    real = CompressionLoop.run_cycle

    def run_cycle(self):  # magnitude breaks in its second cycle
        if self.method.name == "magnitude" and self.cycle == 1:
            raise RuntimeError("broken on purpose")
        return real(self)

    with monkeypatch.context() as patch:
        patch.setattr(CompressionLoop, "run_cycle", run_cycle)
        assert main(argv) == 7
    err = capsys.readouterr().err
    assert "1 of 2 runs failed: magnitude" in err
    status = read_json(out / "status.json")["runs"]
    assert status["magnitude"]["status"] == "failed"
    assert "broken on purpose" in status["magnitude"]["error"]
    assert "broken on purpose" in (out / "magnitude" / "error.txt").read_text()
    assert status["random"]["status"] == "finished"
    assert list(read_csv(out / "comparison.csv")[0]) == ["cycle", "width", "sparsity", "random"]
    random_before = measured(out / "random" / "cycles.csv")

    assert main(argv) == 0  # the same command resumes magnitude and reuses the others
    assert read_json(out / "status.json")["runs"]["magnitude"]["status"] == "finished"
    assert list(read_csv(out / "comparison.csv")[0])[3:] == ["random", "magnitude"]
    assert measured(out / "random" / "cycles.csv") == random_before
