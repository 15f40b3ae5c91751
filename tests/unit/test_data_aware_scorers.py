"""The data-aware unit scorers (first-order Taylor, activation/Wanda-style) against scores
computed by hand in float64 numpy, through the API and as Torch-Pruning importances."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tomoprune import Compressor, Schedule
from tomoprune.errors import ConfigError
from tomoprune.methods.neuron.scoring import GroupWeights, ScoringContext
from tomoprune.methods.neuron.scoring.data_aware import Activation, Taylor
from tomoprune.structure import find_groups


def _mlp_and_batch():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double()
    x = torch.randn(16, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (16,))
    return model, x, y


def _hidden(model, x) -> np.ndarray:
    w1, b1 = model[0].weight.detach().numpy(), model[0].bias.detach().numpy()
    return np.maximum(x.numpy() @ w1.T + b1, 0.0)


def _score(scorer, model, x, y) -> np.ndarray:
    (group,) = find_groups(model, x)
    context = ScoringContext(1, None, scorer, {}, calibration=lambda: (x, y))
    return scorer.score(GroupWeights(model, group), context).scores


def test_taylor_scores_are_the_first_order_loss_change_of_zeroing_each_unit():
    model, x, y = _mlp_and_batch()
    h = _hidden(model, x)
    w2, b2 = model[2].weight.detach().numpy(), model[2].bias.detach().numpy()
    logits = h @ w2.T + b2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(3)[y.numpy()]
    grad_w2 = (p - onehot).T @ h / len(x)  # d mean cross-entropy / d W2
    expected = np.abs((w2 * grad_w2).sum(axis=0))
    np.testing.assert_allclose(_score(Taylor(), model, x, y), expected, rtol=1e-9, atol=1e-12)


def test_activation_scores_are_input_norm_times_outgoing_magnitude():
    model, x, y = _mlp_and_batch()
    h = _hidden(model, x)
    w2 = model[2].weight.detach().numpy()
    expected = np.linalg.norm(h, axis=0) * np.abs(w2).sum(axis=0)
    np.testing.assert_allclose(_score(Activation(), model, x, y), expected, rtol=1e-9)


@pytest.mark.parametrize("scorer", ["taylor", "activation"])
def test_data_aware_scorers_prune_through_the_api(scorer):
    model, x, y = _mlp_and_batch()
    compressor = Compressor(
        model,
        x[:1],
        scorer=scorer,
        calibration=(x, y),
        schedule=Schedule(fraction=0.5, min_width=1),
    )
    compressor.step()
    assert compressor.model[0].out_features == 3
    expected = np.argsort(
        -np.abs(_score(Activation() if scorer == "activation" else Taylor(), model, x, y))
    )[:3]
    assert sorted(compressor.record.kept["0"]) == sorted(expected.tolist())


def test_a_data_aware_scorer_without_calibration_data_says_how_to_give_it():
    model, x, _ = _mlp_and_batch()
    compressor = Compressor(model, x[:1], scorer="taylor", schedule=Schedule(min_width=1))
    with pytest.raises(ConfigError, match="calibration"):
        compressor.step()


def test_activation_scorer_as_a_torch_pruning_importance():
    import torch_pruning as tp

    from tomoprune.methods.neuron.tp_importance import ScorerImportance

    model, x, y = _mlp_and_batch()
    expected = np.argsort(-_score(Activation(), model, x, y))[:3]
    pruner = tp.pruner.MetaPruner(
        model,
        x[:1],
        importance=ScorerImportance("activation", calibration=(x, y)),
        pruning_ratio=0.5,
        ignored_layers=[model[2]],
    )
    kept_rows = model[0].weight.detach().clone()[np.sort(expected)]
    pruner.step()
    assert torch.equal(model[0].weight.detach(), kept_rows)
