"""Every registered plug-in keeps the contract the loop relies on.

Parametrised over the registries themselves, so a new scorer or regulariser is checked by
registering it (post-training compressors too): its settings are validated in one line, a run records it, a resumed run equals
an uninterrupted one, and the saved model reloads exactly.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tomoprune import load_run_model
from tomoprune.cli import main
from tomoprune.data.datasets import load_dataset
from tomoprune.errors import ConfigError
from tomoprune.fileio import read_csv, read_json
from tomoprune.methods.l0.settings import REGULARISERS, RegulariserSettings
from tomoprune.methods.neuron.scoring import SCORERS, UnitScorer
from tomoprune.plugins import Interval, load_object
from tomoprune.posttraining import POSTTRAINING, Compressor, compress_
from tomoprune.records.schema import WALL_CLOCK_COLUMNS

TINY = ["--dataset", "digits", "--quiet", "--set", "train.steps_per_cycle=3"]
PER_FAMILY = {
    "scorer": ["--hidden", "16"],
    "regulariser": [
        "--set",
        "method.regularised_max_steps=20",
        "--set",
        "method.finetune_max_steps=10",
        "--set",
        "method.eval_every=10",
    ],
}
PLUGINS = [("scorer", name, cls) for name, cls in SCORERS.items()] + [
    ("regulariser", name, cls) for name, cls in REGULARISERS.items()
]
IDS = [f"{family}:{name}" for family, name, _ in PLUGINS]
POSTTRAINING_ITEMS = sorted(POSTTRAINING.items())


def bad_value(constraint: Interval):
    """A value just outside an interval constraint."""
    if constraint.low is not None:
        return constraint.low - 1
    return constraint.high + 1


@pytest.mark.parametrize(("family", "name", "cls"), PLUGINS, ids=IDS)
def test_settings_are_refused_in_one_line_naming_the_setting(family, name, cls):
    cls()  # the defaults are valid
    constrained = {key: c for key, c in cls.constraints.items() if isinstance(c, Interval)}
    for key, constraint in constrained.items():
        value = bad_value(constraint)
        with pytest.raises(ConfigError) as info:
            cls(**{key: value})
        message = str(info.value)
        assert "\n" not in message and f"'{key}'" in message and repr(value) in message


FAMILY_METHOD = {
    "scorer": (UnitScorer, "score"),
    "regulariser": (RegulariserSettings, "build"),
    "post-training": (Compressor, "compress_layer"),
}
ALL = PLUGINS + [("post-training", name, cls) for name, cls in POSTTRAINING_ITEMS]


@pytest.mark.parametrize(("family", "name", "cls"), ALL, ids=[f"{f}:{n}" for f, n, _ in ALL])
def test_the_named_implementation_is_a_function_of_the_settings(family, name, cls):
    # a built-in names the function doing its work ("module:function"), imported on first use;
    # a plug-in without one defines the family's method itself
    if cls.implementation:
        assert callable(load_object(cls.implementation))
    else:
        base, method = FAMILY_METHOD[family]
        assert getattr(cls, method) is not getattr(base, method)


def measured(run_dir):
    rows = read_csv(run_dir / "cycles.csv")
    return [{k: v for k, v in row.items() if k not in WALL_CLOCK_COLUMNS} for row in rows]


@pytest.mark.parametrize(("family", "name", "cls"), PLUGINS, ids=IDS)
def test_a_run_records_resumes_exactly_and_reloads_exactly(tmp_path, family, name, cls):
    argv = ["run", "--method", name, *TINY, *PER_FAMILY[family]]
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert main([*argv, "--out", str(whole), "--max-cycles", "2"]) == 0
    assert main([*argv, "--out", str(split), "--max-cycles", "1"]) == 0
    assert main([*argv, "--out", str(split), "--max-cycles", "2"]) == 0

    config = read_json(whole / "config.json")
    assert config["method"] == name
    recorded = config["config"]["params"]
    for field in dataclasses.fields(cls):  # every setting of the plug-in is recorded
        assert field.name in recorded
    assert measured(whole) == measured(split)

    test = load_dataset("digits", None)
    reloaded = [load_run_model(d).eval() for d in (whole, split)]
    with torch.no_grad():
        outputs = [m(test.test_x) for m in reloaded]
    assert torch.equal(outputs[0], outputs[1])
    accuracy = float((outputs[0].argmax(1) == test.test_y).float().mean())
    assert accuracy == pytest.approx(float(measured(whole)[-1]["test_accuracy"]), abs=1e-6)


POST = sorted(POSTTRAINING.items())


@pytest.mark.parametrize(("name", "cls"), POST, ids=[f"post-training:{n}" for n, _ in POST])
def test_post_training_settings_and_one_pass_over_any_module(name, cls):
    cls()  # the defaults are valid
    for key, constraint in cls.constraints.items():
        if not isinstance(constraint, Interval):
            continue
        value = bad_value(constraint)
        with pytest.raises(ConfigError) as info:
            cls(**{key: value})
        assert "\n" not in str(info.value) and f"'{key}'" in str(info.value)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8)
    ).double()
    x = torch.randn(64, 16, dtype=torch.float64)
    before = [p.detach().clone() for p in model.parameters()]
    compress_(model, cls(), calibration=x)
    after = list(model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert torch.isfinite(model(x)).all()
