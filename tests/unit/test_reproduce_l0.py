"""The dense baseline of the l0 family and the l0 reproduction table, from records."""

import json

import pytest

from tomoprune.errors import ConfigError, RecordError
from tomoprune.fileio import atomic_write_csv, read_csv
from tomoprune.reproduce import l0
from tomoprune.runs.resolve import resolve_run_config
from tomoprune.runs.runner import build_loop


@pytest.fixture
def task(synthetic_task):
    return synthetic_task


def run_loop(task, method, **overrides):
    settings = {
        "model.name": "mlp",
        "model.hidden": 16,
        "train.batch_size": 50,
        "method.regularised_max_steps": 80,
        "method.finetune_max_steps": 20,
        "method.eval_every": 5,
        "method.patience": 3,
        "method.min_relative_improvement": 0.05,
        "method.gradient_prune_samples": 64,
        **overrides,
    }
    config = resolve_run_config(method, overrides=settings)
    return build_loop(config, task).run()


def test_dense_baseline_trains_to_the_plateau_and_compresses_nothing(task):
    result = run_loop(task, "dense")
    (row,) = result.rows  # one cycle: training only
    assert row["stage"] == "dense" and row["threshold"] is None
    assert row["nonzero_parameters"] == row["parameters"] == row["initial_parameters"]
    assert row["compression_ratio"] == 1.0 and row["pruned_fraction"] == 0.0
    assert row["width"] == 16 and row["units_removed"] == 0
    assert row["calibration_loss_after"] == row["calibration_loss_before"]
    (phase,) = result.phases
    assert phase["phase"] == "train" and phase["stopped_by"] == "stop_rule"
    assert not any(key.startswith("metric_") for key in phase)  # no hook ran


def test_dense_baseline_is_the_regularised_run_with_the_regulariser_off(task):
    # DRR with alpha = 0 adds an exactly-zero term, so its regularised phase must follow the
    # same trajectory and stop at the same plateau as the dense baseline
    dense = run_loop(task, "dense").phases[0]
    unregularised = run_loop(task, "drr", **{"method.alpha": 0.0}).phases[0]
    assert dense["steps"] == unregularised["steps"]
    assert dense["validation_curve"] == unregularised["validation_curve"]


# -- the table, from hand-written records -------------------------------------------------------
RECORDS = {
    # method: (accuracy, initial parameters, nnz, threshold, phases as (name, steps), csr bytes)
    "dense": (0.98, 1000, 1000, None, [("train", 300)], 8004),
    "drr": (0.976, 1000, 20, 0.05, [("regularised", 400), ("finetune", 100)], 164),
    "rl1": (0.97, 1000, 40, 0.01, [("warmup", 10), ("regularised", 200), ("finetune", 90)], 324),
}


def write_run(folder, method, *, status="finished", batch=50, train_size=1000):
    accuracy, initial, nnz, threshold, phases, csr = RECORDS[method]
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(
        json.dumps(
            {
                "status": status,
                "config": {
                    "train": {"batch_size": batch},
                    "data": {"dataset": "mnist", "train_size": train_size},
                },
            }
        )
    )
    cycle = {
        "test_accuracy": accuracy,
        "initial_parameters": initial,
        "nonzero_parameters": nnz,
        "threshold": threshold,
        "csr_bytes": csr,
        "initial_dense_float32_bytes": 4 * initial,
        "train_seconds": 2.0,
        "prune_seconds": 0.5,
    }
    atomic_write_csv(folder / "cycles.csv", list(cycle), [cycle, cycle])
    atomic_write_csv(
        folder / "phases.csv",
        ["phase", "steps"],
        [{"phase": name, "steps": steps} for name, steps in phases],
    )
    return folder


def test_table_has_one_row_per_method_with_cr_and_drop_from_the_records(tmp_path):
    run_dirs = {m: write_run(tmp_path / "runs" / m, m) for m in ("dense", "drr", "rl1")}
    rows = l0.write_l0_table(tmp_path, run_dirs)
    assert [r["method"] for r in rows] == ["dense", "drr", "rl1"]
    by_method = {r["method"]: r for r in rows}
    assert by_method["drr"]["compression_ratio"] == pytest.approx(1000 / 20)
    assert by_method["rl1"]["pruned_fraction"] == pytest.approx(1 - 40 / 1000)
    assert by_method["drr"]["accuracy_drop_pp"] == pytest.approx(0.4)
    assert by_method["dense"]["accuracy_drop_pp"] == 0.0
    assert by_method["dense"]["compression_ratio"] == 1.0
    assert (by_method["rl1"]["regularised_steps"], by_method["rl1"]["finetune_steps"]) == (200, 90)
    assert by_method["rl1"]["epochs"] == pytest.approx(300 * 50 / 1000)
    assert by_method["drr"]["wall_seconds"] == pytest.approx(5.0)
    assert by_method["dense"]["threshold"] is None
    written = read_csv(tmp_path / l0.TABLE_CSV)
    assert list(written[0]) == list(l0.TABLE_COLUMNS) and len(written) == 3
    assert float(written[1]["compression_ratio"]) == pytest.approx(50.0)
    text = (tmp_path / l0.TABLE_MD).read_text()
    assert "| drr | 0.9760 | 0.40 | 50.0 |" in text
    assert "drr: CR 50.0 (needs >= 50), accuracy drop 0.40 pp (needs <= 0.5): passed" in text


def test_acceptance_needs_both_the_compression_and_the_accuracy():
    def rows(cr, drop):
        return [{"method": "drr", "compression_ratio": cr, "accuracy_drop_pp": drop}]

    assert l0.acceptance(rows(60.0, 0.5))["passed"]
    assert not l0.acceptance(rows(49.9, 0.1))["passed"]
    assert not l0.acceptance(rows(80.0, 0.51))["passed"]
    assert l0.acceptance(rows(80.0, None)) is None  # no dense baseline to compare with


def test_table_without_baseline_leaves_the_drop_empty(tmp_path):
    rows = l0.table_rows({"drr": write_run(tmp_path / "drr", "drr")})
    assert rows[0]["accuracy_drop_pp"] is None
    assert "## Check" not in l0.markdown(rows)


def test_unfinished_run_is_reported_not_tabulated(tmp_path):
    with pytest.raises(RecordError, match="not finished"):
        l0.table_rows({"drr": write_run(tmp_path / "drr", "drr", status="stopped")})


def test_methods_option_accepts_only_the_l0_methods():
    assert l0.parse_methods(None) == l0.METHODS
    assert l0.parse_methods("drr, dense,drr") == ("drr", "dense")
    with pytest.raises(ConfigError, match="'--methods' option must list some of"):
        l0.parse_methods("drr,dtc")


def test_teacher_student_overrides_reach_the_experiment_and_the_method():
    config = l0.teacher_student_config(
        {"sizes": "30,300", "noise_std": "0.1", "method.alpha": "0.01", "method.patience": "3"}
    )
    assert config.sizes == (30, 300) and config.noise_std == 0.1
    settings = dict(config.method_settings)
    assert settings["alpha"] == "0.01" and settings["patience"] == "3"
    assert settings["eval_every"] == 20  # the other defaults stay
    with pytest.raises(ConfigError, match="Unknown setting 'size'"):
        l0.teacher_student_config({"size": "30"})
    with pytest.raises(ConfigError, match="'activation' setting must be one of relu, tanh"):
        l0.teacher_student_config({"activation": "gelu"})


def test_acceptance_applies_to_lenet300_only():
    rows = [{"method": "drr", "compression_ratio": 60.0, "accuracy_drop_pp": 0.1}]
    assert l0.acceptance(rows, "lenet300")["passed"]
    assert l0.acceptance(rows, "lenet5") is None
