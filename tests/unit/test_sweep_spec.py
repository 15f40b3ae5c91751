"""Sweep specs: parsing, checking and expansion into self-describing runs."""

import pytest

from tomoprune.errors import ConfigError
from tomoprune.sweeps.spec import load_spec, parse_spec, run_name

SPEC = {
    "sweep": {"name": "s", "seeds": 2},
    "base": {"profile": "reference", "train": {"steps_per_cycle": 3}},
    "axes": {"method": ["random", "dtc"], "method.lam": [0.3]},
}


def test_expansion_is_every_combination_seed_outermost_with_readable_names():
    spec = parse_spec({**SPEC, "axes": {"method": ["random", "dtc"]}})
    runs = spec.expand()
    assert [r.name for r in runs] == [
        "method=random__seed=0",
        "method=dtc__seed=0",
        "method=random__seed=1",
        "method=dtc__seed=1",
    ]
    assert {r.config.train.steps_per_cycle for r in runs} == {3}
    assert {r.config.profile for r in runs} == {"reference"}
    assert runs[3].config.method == "dtc" and runs[3].config.seed == 1


def test_any_setting_can_be_an_axis_and_overrides_apply_to_every_run():
    spec = parse_spec(
        {"sweep": {"seeds": [4]}, "base": {"method": "dtc"}, "axes": {"method.lam": [0.03, 3.0]}}
    )
    runs = spec.expand({"train.steps_per_cycle": "5"})
    assert [r.name for r in runs] == ["lam=0.03__seed=4", "lam=3.0__seed=4"]
    assert [r.config.params.lam for r in runs] == [0.03, 3.0]
    assert {r.config.train.steps_per_cycle for r in runs} == {5}


@pytest.mark.parametrize(
    "data, message",
    [
        ({"axes": {"train.lrr": [1e-3]}}, "Did you mean 'train.lr'"),
        ({"axes": {"method": "dtc"}}, "non-empty list"),
        ({"sweep": {"seeds": 0}}, "seeds must be"),
        ({"sweep": {"seeds": [1, 1]}}, "twice"),
        ({"axes": {"seed": [1]}}, "not as an axis"),
        ({"grid": {}}, "unknown section"),
        ({"base": {"method": "dtc"}, "axes": {"method": ["dtc"]}}, "both in"),
        ({"analysis": {"bins": ["fd"]}}, "unknown axes"),
    ],
)
def test_bad_specs_are_refused_with_a_message_naming_the_problem(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_spec(data).expand()


def test_unsafe_characters_never_reach_a_directory_name():
    assert run_name({"data.data_dir": "/a b/c", "seed": 1}) == "data_dir=_a_b_c__seed=1"


def test_shipped_specs_parse_and_cover_the_paper_s_open_questions():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "configs" / "sweeps"
    specs = {p.stem: load_spec(p) for p in folder.glob("*.toml")}
    assert len(specs["dtc-seeds-reference"].expand()) == 30
    assert len(specs["dtc-seeds-corrected"].expand()) == 30
    assert specs["dtc-frequency"].axes["train.steps_per_cycle"] == (50, 200, 500)
    assert specs["dtc-lambda"].axes["method.lam"] == (0.03, 0.3, 3.0)
    assert specs["dtc-measurement-fraction"].axes["method.measurement_fraction"] == (
        0.05,
        0.1,
        0.3,
    )
    assert len(specs["dtc-basis"].axes["method.basis"]) == 5
    assert specs["dtc-binning"].analysis["binning"] == ("paper", "fd", "sturges", "fixed_count")
