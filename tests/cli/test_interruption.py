"""Ctrl-C at any point leaves a run the same command continues: the records then equal those
of a run that was never interrupted."""

import json

import pytest

from tomoprune.cli import EXIT_INTERRUPTED, main
from tomoprune.engine.compress import CompressionLoop
from tomoprune.fileio import read_csv
from tomoprune.records.schema import WALL_CLOCK_COLUMNS

TIMING = WALL_CLOCK_COLUMNS
TINY = ["--dataset", "digits", "--hidden", "24", "--set", "train.steps_per_cycle=3"]


def measured(path):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in read_csv(path)]


def untimed(path):
    """A JSON record without its wall-clock entries."""

    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if "seconds" not in k}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(json.loads(path.read_text()))


def interrupt_at(monkeypatch, finished_cycles):
    """Ctrl-C as the loop starts cycle ``finished_cycles + 1`` (deterministic, no signals)."""
    real = CompressionLoop.run_cycle

    def run_cycle(self):
        if self.cycle == finished_cycles:
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(CompressionLoop, "run_cycle", run_cycle)


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "run"
    assert main(["run", "--method", "dtc", *TINY, "--out", str(out), "-q"]) == 0
    return out


@pytest.mark.parametrize("finished_cycles", [0, 2])
def test_the_same_command_continues_an_interrupted_run(
    whole, tmp_path, monkeypatch, capsys, finished_cycles
):
    out = tmp_path / "run"
    argv = ["run", "--method", "dtc", *TINY, "--out", str(out), "-q"]
    with monkeypatch.context() as patch:
        interrupt_at(patch, finished_cycles)
        assert main(argv) == EXIT_INTERRUPTED
    err = capsys.readouterr().err.strip()
    assert err == (
        f"tomoprune: interrupted; {finished_cycles} finished cycle(s) saved in {out.resolve()}; "
        "run the same command again to continue from there, or add --overwrite to start afresh."
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["finished"] is False
    assert summary["cycles"] == finished_cycles
    assert json.loads((out / "config.json").read_text())["status"] == "interrupted"

    assert main(argv) == 0
    assert measured(out / "cycles.csv") == measured(whole / "cycles.csv")
    assert json.loads((out / "summary.json").read_text())["status"] == "finished"
    assert untimed(out / "measurements.json") == untimed(whole / "measurements.json")


def test_overwrite_starts_an_interrupted_run_afresh(whole, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    argv = ["run", "--method", "dtc", *TINY, "--out", str(out), "-q"]
    with monkeypatch.context() as patch:
        interrupt_at(patch, 1)
        assert main(argv) == EXIT_INTERRUPTED
    assert main([*argv, "--overwrite"]) == 0
    assert measured(out / "cycles.csv") == measured(whole / "cycles.csv")


def test_an_interrupted_comparison_continues_with_the_same_command(
    whole, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "cmp"
    argv = ["compare", "--methods", "magnitude,dtc", *TINY, "--out", str(out), "-q"]
    calls = {"n": 0}
    real = CompressionLoop.run_cycle

    def run_cycle(self):  # Ctrl-C in the second method's second cycle
        calls["n"] += 1
        if self.method.name == "dtc" and self.cycle == 1:
            raise KeyboardInterrupt
        return real(self)

    with monkeypatch.context() as patch:
        patch.setattr(CompressionLoop, "run_cycle", run_cycle)
        assert main(argv) == EXIT_INTERRUPTED
    assert str((out / "dtc").resolve()) in capsys.readouterr().err
    assert main(argv) == 0
    assert measured(out / "dtc" / "cycles.csv") == measured(whole / "cycles.csv")
