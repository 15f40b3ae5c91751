"""``records.load_run``: the one reader of a run directory gives back what the writer wrote,
and a missing or corrupt record is one ``RecordError`` line."""

import json

import numpy as np
import pytest

from tomoprune.errors import RecordError
from tomoprune.records import load_run
from tomoprune.records.run_dir import RunDirectory
from tomoprune.records.schema import CYCLES_FILE

ROWS = [
    {"cycle": 1, "width": 20, "sparsity": 0.2, "test_accuracy": 0.91, "solver": "optimal"},
    {"cycle": 2, "width": 16, "sparsity": 0.36, "test_accuracy": None, "solver": "optimal"},
]


def write_run(path, status="finished", rows=ROWS):
    directory = RunDirectory(path)
    path.mkdir(parents=True, exist_ok=True)
    directory.write_config({"method": "dtc", "config": {"seed": 0}, "status": status})
    directory.write_cycles(rows)
    directory.write_phases([{"phase": "train", "steps": 4}])
    if status == "finished":
        directory.write_summary({"final_width": 16, "cycles": 2})
    return path


def test_load_run_gives_back_the_written_cells_with_their_types(tmp_path):
    record = load_run(write_run(tmp_path / "run"))
    assert record.status == "finished" and record.finished and record.method == "dtc"
    assert record.settings == {"seed": 0}
    for written, read in zip(ROWS, record.rows, strict=True):
        for key, value in written.items():
            assert read[key] == value and type(read[key]) is type(value)
    assert record.summary == {"final_width": 16, "cycles": 2}
    assert record.phases == [{"phase": "train", "steps": 4}]
    assert record.measurements is None and record.accounting is None


def test_columns_are_float_arrays_with_nan_for_empty_cells_and_skip_text(tmp_path):
    record = load_run(write_run(tmp_path / "run"))
    np.testing.assert_array_equal(record.column("width"), [20.0, 16.0])
    accuracy = record.column("test_accuracy")
    assert accuracy[0] == 0.91 and np.isnan(accuracy[1])
    assert "solver" not in record.columns and "sparsity" in record.columns
    with pytest.raises(RecordError, match="non-numeric"):
        record.column("solver")
    with pytest.raises(RecordError, match="no column 'nope'"):
        record.column("nope")


def test_a_run_still_running_has_no_summary_and_is_refused_when_finished_is_required(tmp_path):
    path = write_run(tmp_path / "run", status="running")
    assert load_run(path).summary is None
    with pytest.raises(RecordError, match="'running', not finished"):
        load_run(path, finished=True)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: None, "not a directory"),
        (lambda p: write_run(p) and (p / CYCLES_FILE).unlink(), "no cycles.csv"),
        (lambda p: write_run(p) and (p / "config.json").write_text("{not json"), "not valid JSON"),
        (lambda p: write_run(p) and (p / "config.json").write_text("[1, 2]"), "a JSON object"),
        (lambda p: write_run(p) and (p / "summary.json").write_text("{"), "not valid JSON"),
        (
            lambda p: (
                write_run(p)
                and (p / CYCLES_FILE).write_text(
                    (p / CYCLES_FILE).read_text() + "3,12,0.5,0.8,x,9\n"
                )
            ),
            "line 4 does not have one cell per header column",
        ),
        (
            lambda p: write_run(p) and (p / CYCLES_FILE).write_bytes(b"cycle\n\xff\xfe\n"),
            "not a readable CSV record",
        ),
    ],
)
def test_a_missing_or_corrupt_record_is_one_record_error_line(tmp_path, damage, message):
    path = tmp_path / "run"
    damage(path)
    with pytest.raises(RecordError, match=message) as caught:
        load_run(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_measurements_are_read_only_when_asked_for(tmp_path):
    path = write_run(tmp_path / "run")
    record = load_run(path)
    (path / "measurements.json").write_text(json.dumps({"cycles": [{"cycle": 1}]}))
    assert record.measurements == {"cycles": [{"cycle": 1}]}  # read now, on first use
