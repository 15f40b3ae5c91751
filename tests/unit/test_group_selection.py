"""Which units go: per-group and global selection, minimum width, chosen groups."""

import numpy as np
import pytest
import torch
from torch import nn

from tomoprune.engine.method import CycleContext
from tomoprune.errors import ConfigError
from tomoprune.methods.neuron.method import (
    NeuronPruning,
    NeuronPruningParams,
    global_keep,
    keep_count,
)


def test_global_selection_removes_the_lowest_scores_of_all_groups_above_the_floor():
    a = np.array([5.0, 0.1, 4.0, 0.2])  # group a: width 4
    b = np.array([0.3, 3.0, 0.05, 2.0, 1.0, 0.4])  # group b: width 6
    # keep_count(10, 0.5) = 5: the five lowest |scores| go (b2, a1, a3, b0, b5)
    keeps = global_keep([a, b], [4, 6], fraction=0.5, min_width=2)
    np.testing.assert_array_equal(keeps[0], [0, 2])
    np.testing.assert_array_equal(keeps[1], [1, 3, 4])
    # with a floor of 3, group a may lose only a1 and group b only three units
    keeps = global_keep([a, b], [4, 6], fraction=0.5, min_width=3)
    np.testing.assert_array_equal(keeps[0], [0, 2, 3])
    np.testing.assert_array_equal(keeps[1], [1, 3, 4])


def lenet_like():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 12, 3),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(12 * 3 * 3, 40),
        nn.ReLU(),
        nn.Linear(40, 3),
    )


def compress_once(params):
    model = lenet_like()
    method = NeuronPruning("magnitude", params, train_config=None)
    method.prepare(model, torch.zeros(1, 1, 8, 8))
    context = CycleContext(1, torch.device("cpu"), None, None, None, np.random.default_rng(0))
    outcome = method.compress(model, context)
    return model, outcome


def test_per_group_selection_prunes_every_group_and_records_each_width():
    _, outcome = compress_once(NeuronPruningParams(fraction=0.25, min_width=2))
    assert outcome.model[0].out_channels == keep_count(12, 0.25)
    assert outcome.model[3].out_features == keep_count(40, 0.25)
    assert outcome.row["width_0"] == keep_count(12, 0.25)
    assert outcome.row["width_3"] == keep_count(40, 0.25)
    assert set(outcome.removal.kept) == {"0", "3"}


def test_only_the_named_groups_are_pruned():
    _, outcome = compress_once(NeuronPruningParams(fraction=0.25, groups="3"))
    assert outcome.model[0].out_channels == 12
    assert outcome.model[3].out_features == keep_count(40, 0.25)


def test_an_unknown_group_name_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="this model's groups are: 0, 3"):
        compress_once(NeuronPruningParams(groups="fc"))
