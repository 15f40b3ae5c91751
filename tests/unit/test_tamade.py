"""TAMADE: the largest magnitude threshold within a relative loss budget."""

import pytest
import torch
from torch import nn

from tomoprune.methods.l0.tamade import tamade

MAGNITUDES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def step_model():
    """A 'model' whose loss is 1 + the summed magnitude of its zeroed weights: a step function
    of the threshold with steps at 0.1, 0.2, ..., 1.0."""
    model = nn.Sequential(nn.Linear(10, 1, bias=False))
    signs = torch.tensor([1.0, -1.0] * 5)
    with torch.no_grad():
        model[0].weight.copy_((torch.tensor(MAGNITUDES) * signs).reshape(1, 10))
    original = model[0].weight.detach().abs().clone()

    def loss(m):
        zeroed = m[0].weight.detach() == 0
        return 1.0 + float(original[zeroed].sum())

    return model, loss


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (0.65, 0.4),  # zeroing 0.1 + 0.2 + 0.3 = 0.6 fits, adding 0.4 (1.0 in all) does not
        (0.05, 0.1),  # nothing can go: the first weight alone costs 10%
        (1.0, 0.5),  # 0.1 + ... + 0.4 = 1.0 is exactly the budget (<= counts)
    ],
)
def test_tamade_finds_the_known_threshold_of_a_step_loss(delta, expected):
    model, loss = step_model()
    result = tamade(model, loss, delta=delta, tolerance=1e-7)
    # every eps in (expected - 0.1, expected] zeroes the same weights; the largest is expected
    assert expected - 1e-7 <= result.threshold <= expected
    assert result.base_loss == 1.0
    assert result.loss == pytest.approx(loss(model)) and result.loss <= (1 + delta) * 1.0
    kept = model[0].weight.detach().abs().flatten()
    torch.testing.assert_close(
        kept, torch.tensor([m if m >= expected - 1e-6 else 0.0 for m in MAGNITUDES])
    )
    assert result.zeroed == sum(m < expected - 1e-6 for m in MAGNITUDES)


def test_tamade_searches_up_to_twice_the_largest_weight():
    model, _ = step_model()
    result = tamade(model, lambda m: 1.0, delta=0.0, tolerance=1e-7)  # pruning costs nothing
    assert result.threshold == pytest.approx(2.0, abs=1e-6)
    assert torch.count_nonzero(model[0].weight) == 0
    # bisection of [0, 2] down to 1e-7: ceil(log2(2e7)) = 25 probes plus the base evaluation
    assert result.evaluations == 26


def test_tamade_only_touches_the_parameters_it_is_given():
    model = nn.Sequential(nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.fill_(0.01)
        model[0].bias.fill_(0.001)
    tamade(model, lambda m: 1.0, delta=0.0, params=[model[0].weight])
    assert torch.all(model[0].weight == 0) and torch.all(model[0].bias == 0.001)
