"""One ``seed`` setting from which the init, data-order, split and method seeds derive."""

import pytest

from tomoprune import config as cfg
from tomoprune.errors import ConfigError
from tomoprune.runs.resolve import from_dict, resolve_run_config


@pytest.mark.parametrize("profile", ["reference", "corrected"])
def test_seed_zero_keeps_every_published_default(profile):
    config = resolve_run_config("dtc", profile=profile)
    assert config.seed == 0
    assert config.model.init_seed == cfg.DEFAULT_SEED
    assert config.train.data_seed == cfg.DEFAULT_SEED
    assert config.data.split_seed == 0
    assert config.params.seed == cfg.DEFAULT_SEED
    explicit = resolve_run_config("dtc", profile=profile, overrides={"seed": "0"})
    assert explicit == config


def test_the_default_seed_is_the_published_runs_seed_so_table1_defaults_reproduce_it():
    from tomoprune.reproduce.paper import REFERENCE_SEED

    assert cfg.DEFAULT_SEED == REFERENCE_SEED


def test_a_nonzero_seed_changes_all_four_seeds_reproducibly():
    a = resolve_run_config("random", profile="reference", overrides={"seed": "3"})
    b = resolve_run_config("random", profile="reference", base={"seed": 3})
    assert a == b
    seeds = [a.model.init_seed, a.train.data_seed, a.data.split_seed, a.params.seed]
    assert len(set(seeds)) == 4
    assert all(0 <= s < 2**31 for s in seeds)
    other = resolve_run_config("random", profile="reference", overrides={"seed": "4"})
    assert other.model.init_seed not in seeds


def test_an_explicit_seed_setting_wins_over_the_derived_one():
    config = resolve_run_config("dtc", overrides={"seed": "5", "model.init_seed": "42424242"})
    assert config.model.init_seed == 42424242
    assert config.train.data_seed == cfg.derived_seeds(5)["train.data_seed"]


def test_a_saved_config_with_a_seed_reloads_identically():
    config = resolve_run_config("dtc", overrides={"seed": "7"})
    assert from_dict(cfg.to_dict(config)) == config


def test_a_negative_seed_is_refused_with_its_name():
    with pytest.raises(ConfigError, match="'seed'"):
        resolve_run_config("dtc", overrides={"seed": "-1"})


def test_methods_without_a_seed_field_take_the_run_seed_without_error():
    config = resolve_run_config("dense", overrides={"seed": "2"})
    assert not hasattr(config.params, "seed")
    assert config.model.init_seed == cfg.derived_seeds(2)["model.init_seed"]
