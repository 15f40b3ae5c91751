"""The one run record writer: what it writes as the loop starts, finishes cycles and stops."""

import json
import os
import subprocess
import sys

import pytest

from tomoprune.errors import ConfigError
from tomoprune.records.run_dir import RunDirectory
from tomoprune.records.writer import RunRecorder, clear, run_status, summarize
from tomoprune.runtime import PASSIVE_WAITING, parse_threads


class FakeLoop:
    """Just what the recorder reads from a loop."""

    def __init__(self, rows):
        self.cycle = len(rows)
        self.rows = rows
        self.phase_rows = [{"cycle": r["cycle"], "phase": "train"} for r in rows]
        self.measurements = []

    def state_dict(self):
        return {"cycle": self.cycle}


ROW = {"cycle": 1, "width": 10, "sparsity": 0.5, "test_accuracy": 0.9, "train_seconds": 1.0}


def test_status_follows_the_run_and_an_unfinished_run_says_so(tmp_path):
    recorder = RunRecorder(tmp_path / "run", {"method": "dtc", "config": {}})
    loop = FakeLoop([])
    recorder.started(loop)
    assert run_status(tmp_path / "run") == "running"
    assert (tmp_path / "run" / "cycles.csv").is_file()  # tables exist from the start
    loop = FakeLoop([ROW])
    recorder.cycle_finished(loop)
    assert recorder.checkpoint() == {"cycle": 1}
    summary = recorder.stopped(loop, None, "interrupted")
    assert summary["status"] == "interrupted" and summary["finished"] is False
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved == summary and run_status(tmp_path / "run") == "interrupted"


def test_clear_removes_only_the_records(tmp_path):
    recorder = RunRecorder(tmp_path, {"method": "dtc"})
    recorder.started(FakeLoop([]))
    recorder.cycle_finished(FakeLoop([ROW]))
    (tmp_path / "notes.txt").write_text("mine")
    clear(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_weight_level_runs_report_zero_weights_and_compression_ratio():
    row = {**ROW, "initial_parameters": 1000, "nonzero_parameters": 40, "compression_ratio": 25.0}
    summary = summarize({"method": "drr"}, [row], "finished")
    assert summary["compression_ratio"] == 25.0
    assert summary["weight_sparsity"] == pytest.approx(0.96)
    assert "compression_ratio" not in summarize({"method": "dtc"}, [ROW], "finished")


def test_thread_option_values():
    assert parse_threads(None) is None and parse_threads("3") == 3
    assert 1 <= parse_threads("auto") <= (os.cpu_count() or 1)
    for bad in ("0", "-2", "many"):
        with pytest.raises(ConfigError, match="--threads"):
            parse_threads(bad)


def test_the_cli_asks_openmp_for_passive_waiting_before_torch_loads():
    code = (
        "import os, sys; from tomoprune.cli import main; main(['methods']); "
        "import torch; print(os.environ['OMP_WAIT_POLICY'], os.environ['KMP_BLOCKTIME'])"
    )
    env = {k: v for k, v in os.environ.items() if k not in PASSIVE_WAITING}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.stdout.strip().splitlines()[-1] == "PASSIVE 0"
    env["OMP_WAIT_POLICY"] = "ACTIVE"  # a user's own setting wins
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.stdout.strip().splitlines()[-1] == "ACTIVE 0"


def test_measurements_file_names_the_layers_the_method_wrote_in_its_order(tmp_path):
    entry = {"cycle": 1, "measurements": {"outgoing": [1.0], "incoming": [2.0]}}
    RunDirectory(tmp_path).write_measurements([entry])
    written = json.loads((tmp_path / "measurements.json").read_text())
    assert written["layers"] == ["outgoing", "incoming"]
    assert written["cycles"] == [entry]


def test_measurements_file_without_cycles_names_no_layers(tmp_path):
    RunDirectory(tmp_path).write_measurements([])
    assert json.loads((tmp_path / "measurements.json").read_text())["layers"] == []
