"""The l0 methods (rl1, drr, pmmp) through the one train-compress loop."""

import pytest
import torch

from tomoprune.errors import ConfigError
from tomoprune.methods.l0 import method as l0_method  # noqa: F401  (registers rl1, drr, pmmp)
from tomoprune.records.run_dir import RunDirectory
from tomoprune.runs.resolve import resolve_run_config
from tomoprune.runs.runner import build_loop


@pytest.fixture
def task(synthetic_task):
    return synthetic_task


def make_loop(task, method, run_dir=None, **overrides):
    settings = {
        "model.name": "mlp",
        "model.hidden": 32,
        "train.batch_size": 64,
        "method.regularised_max_steps": 60,
        "method.finetune_max_steps": 40,
        "method.eval_every": 10,
        "method.gradient_prune_samples": 256,
        "method.tamade_delta": 0.01,
        **overrides,
    }
    config = resolve_run_config(method, overrides=settings)
    return build_loop(config, task, run_dir=run_dir)


@pytest.mark.parametrize("method", ["rl1", "drr", "pmmp"])
def test_each_method_thresholds_then_fine_tunes_and_finalises(task, method):
    result = make_loop(task, method, **{"method.alpha": 1e-3}).run()
    first, second = result.rows
    assert (first["stage"], second["stage"]) == ("threshold", "finalise")
    initial = first["initial_parameters"]
    assert initial == first["parameters"] == 25 * 32 + 32 + 32 * 4 + 4
    for row in result.rows:
        assert row["compression_ratio"] == pytest.approx(initial / row["nonzero_parameters"])
        assert row["pruned_fraction"] == pytest.approx(1 - row["nonzero_parameters"] / initial)
    assert first["threshold"] > 0
    # TAMADE keeps the validation loss within 1% of the loss before thresholding
    assert first["calibration_loss_after_tamade"] <= 1.01 * first["calibration_loss_before"] + 1e-9
    # fine-tuning is masked: nothing pruned comes back
    assert second["nonzero_parameters"] <= first["nonzero_parameters"]
    # deleting units that feed nothing leaves the function unchanged
    assert second["calibration_loss_after"] == pytest.approx(
        second["calibration_loss_before"], rel=1e-5
    )
    assert second["width"] == 32 - second["units_removed"] == result.model[1].out_features
    phases = [(p["cycle"], p["phase"]) for p in result.phases]
    assert phases == [(1, "regularised"), (2, "finetune")]


def test_a_stronger_regulariser_compresses_more(task):
    weak = make_loop(task, "drr", **{"method.alpha": 0.0}).run().rows[0]
    strong = make_loop(task, "drr", **{"method.alpha": 3e-3}).run().rows[0]
    assert strong["compression_ratio"] > 1.5 * weak["compression_ratio"]


def test_warmup_runs_before_the_regularised_phase(task):
    loop = make_loop(task, "rl1", **{"method.warmup_steps": 7})
    loop.max_cycles = 1
    result = loop.run()
    assert [(p["phase"], p["steps"]) for p in result.phases][0] == ("warmup", 7)


def test_resumed_run_equals_uninterrupted_run(task, tmp_path):
    whole = make_loop(task, "drr", run_dir=RunDirectory(tmp_path / "whole")).run()
    first = make_loop(task, "drr", run_dir=RunDirectory(tmp_path / "split"))
    first.max_cycles = 1
    first.run()
    second = make_loop(task, "drr", run_dir=RunDirectory(tmp_path / "split"))
    second.load_state_dict(RunDirectory(tmp_path / "split").load_checkpoint())
    resumed = second.run()
    for a, b in zip(whole.rows, resumed.rows, strict=True):
        for key in ("nonzero_parameters", "threshold", "test_loss", "width"):
            assert a[key] == b[key], key
    for p, q in zip(whole.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_l0_run_defaults_follow_the_paper_setup():
    config = resolve_run_config("pmmp")
    assert config.model.name == "lenet300" and config.model.bias
    assert (config.train.batch_size, config.train.lr) == (500, 1e-3)
    assert (config.data.validation_fraction, config.data.split_seed) == (1 / 12, 0)
    assert type(config.params).name == "pmmp" and config.params.pmmp_lr == 1e-3


def test_a_setting_of_another_regulariser_is_refused_with_the_nearest_name():
    with pytest.raises(ConfigError, match="Unknown setting 'method.pmmp_lr'"):
        resolve_run_config("drr", overrides={"method.pmmp_lr": 0.01})
    with pytest.raises(ConfigError, match="Unknown setting 'method.beta'"):
        resolve_run_config("dense", overrides={"method.beta": 5})


def test_regularise_gives_a_hook_for_your_own_training_loop():
    from tomoprune.methods.l0.base import regularise
    from tomoprune.methods.l0.drr import DRR

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    hook = regularise(model, DRR(alpha=0.5, beta=2.0), optimizer)
    w = model.weight.detach().clone()
    b = model.bias.detach().clone()
    expected = 0.5 * ((1 - torch.exp(-2.0 * w.abs())).sum() + (1 - torch.exp(-2.0 * b.abs())).sum())
    assert float(hook.penalty(model).detach()) == pytest.approx(float(expected), rel=1e-6)


def test_invalid_settings_are_rejected_with_the_setting_named():
    with pytest.raises(
        ConfigError, match="'method.smoothing' setting must be a number between 0 and 1, 1 excluded"
    ):
        resolve_run_config("drr", overrides={"method.smoothing": 1.5})


def test_a_setting_of_another_method_is_rejected_not_ignored():
    with pytest.raises(ConfigError, match="Unknown setting 'method.pmmp_lr'"):
        resolve_run_config("drr", overrides={"method.pmmp_lr": 0.1})
    assert resolve_run_config("pmmp", overrides={"method.pmmp_lr": 0.1}).params.pmmp_lr == 0.1
