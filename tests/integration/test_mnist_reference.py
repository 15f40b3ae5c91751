"""The reference profile on the real MNIST files: widths and first-cycle accuracy match the
authors' recorded run."""

import pytest

from tomoprune.fileio import read_csv
from tomoprune.reproduce.paper import load_reference_run
from tomoprune.runs.resolve import resolve_run_config
from tomoprune.runs.runner import run_experiment

pytestmark = pytest.mark.mnist


@pytest.mark.parametrize("method", ["magnitude", "random", "dtc"])
def test_first_cycles_match_the_recorded_run(mnist_dir, tmp_path, method):
    reference = load_reference_run()
    config = resolve_run_config(
        method,
        profile="reference",
        overrides={"data.dataset": "mnist", "data.data_dir": str(mnist_dir)},
    )
    run_experiment(config, tmp_path / method, max_cycles=3)
    rows = read_csv(tmp_path / method / "cycles.csv")
    assert [int(r["width"]) for r in rows] == [460, 414, 372]
    first = float(rows[0]["test_accuracy"])
    assert abs(first - reference.accuracy[method][0]) <= 0.003
