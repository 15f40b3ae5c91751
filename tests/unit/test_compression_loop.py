"""The one train-compress loop: widths, records, resume, optimizer carry-over."""

import numpy as np
import pytest
import torch

from tomoprune.fileio import read_csv
from tomoprune.methods.neuron.method import keep_count
from tomoprune.records.run_dir import RunDirectory
from tomoprune.runs.resolve import resolve_run_config
from tomoprune.runs.runner import build_loop


@pytest.fixture
def task(synthetic_task):
    return synthetic_task


def make_loop(task, method="magnitude", profile="corrected", run_dir=None, **overrides):
    settings = {
        "model.hidden": 40,
        "train.steps_per_cycle": 6,
        "train.batch_size": 64,
        "train.eval_batch_size": 128,
        **overrides,
    }
    config = resolve_run_config(method, profile=profile, overrides=settings)
    return build_loop(config, task, run_dir=run_dir)


def expected_widths(width, minimum=10, fraction=0.1):
    out = []
    while width > minimum:
        width = keep_count(width, fraction)
        out.append(width)
    return out


@pytest.mark.parametrize("method", ["magnitude", "random", "dtc"])
@pytest.mark.parametrize("profile", ["corrected", "reference"])
def test_every_method_shrinks_the_width_along_the_planned_sequence(task, method, profile):
    result = make_loop(task, method, profile).run()
    widths = [row["width"] for row in result.rows]
    assert widths == expected_widths(40)
    assert result.model[1].out_features == widths[-1]  # physically smaller, no masks
    assert all(0.0 <= row["test_accuracy"] <= 1.0 for row in result.rows)
    sparsity = [row["sparsity"] for row in result.rows]
    np.testing.assert_allclose(sparsity, [1 - w / 40 for w in widths])


def test_records_are_written_each_cycle(task, tmp_path):
    run_dir = RunDirectory(tmp_path)
    loop = make_loop(task, "dtc", run_dir=run_dir)
    loop.max_cycles = 3
    loop.run()
    rows = read_csv(tmp_path / "cycles.csv")
    assert [int(r["cycle"]) for r in rows] == [1, 2, 3]
    assert {
        "cycle",
        "width",
        "sparsity",
        "test_accuracy",
        "train_loss",
        "train_seconds",
        "prune_seconds",
        "solver_objective",
    } <= set(rows[0])
    measurements = __import__("json").loads((tmp_path / "measurements.json").read_text())
    assert [c["cycle"] for c in measurements["cycles"]] == [1, 2, 3]
    assert len(measurements["cycles"][1]["coefficients"]["previous_layer"]) == 36


@pytest.mark.parametrize("profile", ["corrected", "reference"])
def test_resumed_run_equals_uninterrupted_run(task, tmp_path, profile):
    method = "random"
    whole = make_loop(task, method, profile, run_dir=RunDirectory(tmp_path / "whole")).run()
    first = make_loop(task, method, profile, run_dir=RunDirectory(tmp_path / "split"))
    first.max_cycles = 4
    first.run()
    second = make_loop(task, method, profile, run_dir=RunDirectory(tmp_path / "split"))
    second.load_state_dict(RunDirectory(tmp_path / "split").load_checkpoint())
    resumed = second.run()
    assert len(resumed.rows) == len(whole.rows)
    for a, b in zip(whole.rows, resumed.rows, strict=True):
        for key in ("width", "test_accuracy", "test_loss", "train_loss"):
            assert a[key] == b[key], key
    for p, q in zip(whole.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_corrected_profile_carries_adam_moments_across_pruning(task):
    loop = make_loop(task, "magnitude")
    loop.max_cycles = 1
    loop.run()
    first_layer = loop.model[1].weight
    state = loop.optimizer.state[first_layer]
    assert state["exp_avg"].shape == first_layer.shape
    assert float(state["exp_avg"].abs().sum()) > 0


def test_reference_profile_starts_a_fresh_optimizer_every_cycle(task):
    loop = make_loop(task, "magnitude", "reference")
    phases = loop.method.phases(1, loop.model)
    assert phases[0].fresh_optimizer
    assert not make_loop(task, "magnitude").method.phases(1, loop.model)[0].fresh_optimizer
