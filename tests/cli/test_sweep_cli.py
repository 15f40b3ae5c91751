"""``tomoprune sweep`` end to end on tiny data: resume after a kill, failures, refusals."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tomoprune.cli import main
from tomoprune.fileio import read_json

SPEC = """
[sweep]
name = "tiny"
seeds = {seeds}

[base]
profile = "reference"
"data.dataset" = "mnist"
"train.steps_per_cycle" = 2
"model.hidden" = 24

[axes]
method = ["magnitude", "random"]
"""


def write_spec(folder: Path, seeds: int = 2, extra: str = "") -> Path:
    path = folder / "spec.toml"
    path.write_text(SPEC.format(seeds=seeds) + extra)
    return path


def argv(spec: Path, out: Path, data: Path, *extra: str) -> list[str]:
    return ["sweep", str(spec), "--out", str(out), "--data-dir", str(data), "--quiet", *extra]


def finished(out: Path) -> dict[str, int]:
    """Finished run name -> mtime of its cycles.csv."""
    found = {}
    for run in sorted((out / "runs").iterdir()):
        config = run / "config.json"
        if config.is_file() and read_json(config)["status"] == "finished":
            found[run.name] = (run / "cycles.csv").stat().st_mtime_ns
    return found


def test_killed_sweep_rerun_runs_only_the_missing_runs(tiny_idx_dir, tmp_path):
    spec = write_spec(tmp_path, seeds=3)
    out = tmp_path / "out"
    launcher = "import sys; from tomoprune.cli import main; sys.exit(main(sys.argv[1:]))"
    command = [sys.executable, "-c", launcher, *argv(spec, out, tiny_idx_dir)]
    command += ["--workers", "1", "--no-aggregate"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(command, env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if (out / "runs").is_dir() and len(finished(out)) >= 2:
            break
        time.sleep(0.2)
    assert process.poll() is None, "the sweep ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = finished(out)
    assert 2 <= len(before) < 6, "the sweep should have been killed part-way"
    assert main(argv(spec, out, tiny_idx_dir, "--no-aggregate")) == 0
    after = finished(out)
    assert len(after) == 6
    for name, mtime in before.items():  # finished runs were not touched again
        assert after[name] == mtime
    status = read_json(out / "status.json")["runs"]
    assert all(status[name]["status"] == "finished" for name in after)


def test_a_failing_run_does_not_stop_the_others_and_the_exit_code_says_so(
    tiny_idx_dir, tmp_path, capsys
):
    # width 8 is at or below min_width 10 already: that run fails when its model is built
    spec = write_spec(tmp_path, seeds=1, extra='"model.hidden" = [8, 24]\n')
    spec.write_text(spec.read_text().replace('"model.hidden" = 24\n', ""))
    out = tmp_path / "out"
    assert main(argv(spec, out, tiny_idx_dir, "--no-aggregate")) == 7
    err = capsys.readouterr().err
    assert "2 of 4 runs failed" in err and "hidden=8" in err
    assert set(finished(out)) == {
        "method=magnitude__hidden=24__seed=0",
        "method=random__hidden=24__seed=0",
    }
    status = read_json(out / "status.json")["runs"]
    failed = status["method=random__hidden=8__seed=0"]
    assert failed["status"] == "failed" and "min_width" in failed["error"]
    assert (out / "runs" / "method=random__hidden=8__seed=0" / "error.txt").is_file()


def test_a_directory_holding_other_settings_is_refused_before_anything_runs(
    tiny_idx_dir, tmp_path, capsys
):
    spec = write_spec(tmp_path, seeds=1)
    out = tmp_path / "out"
    assert main(argv(spec, out, tiny_idx_dir, "--no-aggregate")) == 0
    other = spec.read_text().replace('"train.steps_per_cycle" = 2', '"train.steps_per_cycle" = 3')
    spec.write_text(other)
    assert main(argv(spec, out, tiny_idx_dir, "--no-aggregate")) == 2
    assert "other base settings" in capsys.readouterr().err
    # growing the sweep (more seeds) is allowed and runs only the new seed
    spec.write_text(SPEC.format(seeds=2))
    before = finished(out)
    assert main(argv(spec, out, tiny_idx_dir, "--no-aggregate")) == 0
    after = finished(out)
    assert len(after) == 4 and all(after[n] == m for n, m in before.items())
    runs = json.loads((out / "sweep.json").read_text())["runs"]
    assert len(runs) == 4
    # the report of a sweep directory: its aggregate, with the paired comparison
    assert main(["report", str(out)]) == 0
    report = (out / "aggregate" / "report.md").read_text()
    assert "random - magnitude" in report and "Holm p" in report and "TOST p" in report
    assert (out / "aggregate" / "report.html").is_file()


@pytest.mark.parametrize("flags", [["--workers", "0"], ["--address", "auto"]])
def test_bad_execution_flags_get_a_one_line_error(tiny_idx_dir, tmp_path, capsys, flags):
    spec = write_spec(tmp_path, seeds=1)
    assert main(argv(spec, tmp_path / "o", tiny_idx_dir, "--no-aggregate", *flags)) == 2
    assert "tomoprune: error:" in capsys.readouterr().err
