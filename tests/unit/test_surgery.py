"""Physically removing units keeps the function of the surviving units exactly."""

import torch
from torch import nn

from tomoprune.models.spec import build_from_spec, describe
from tomoprune.models.surgery import (
    prunable_layers,
    removal_plan,
    remove_units,
    slice_parameter_state,
)


def mlp(bias: bool = True, batchnorm: bool = False) -> nn.Sequential:
    torch.manual_seed(0)
    layers = [nn.Flatten(), nn.Linear(12, 8, bias=bias)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(8))
    layers += [nn.ReLU(), nn.Linear(8, 3, bias=bias)]
    return nn.Sequential(*layers)


def zero_units(model: nn.Sequential, layer: int, drop: list[int]) -> nn.Sequential:
    """Oracle: the same model with the dropped units' outgoing weights zeroed."""
    import copy

    clone = copy.deepcopy(model)
    following = next(m for m in list(clone)[layer + 1 :] if isinstance(m, (nn.Linear, nn.Conv2d)))
    with torch.no_grad():
        following.weight[:, drop] = 0
    return clone


def test_removing_units_equals_zeroing_their_outgoing_weights():
    model = mlp(bias=True).eval()
    keep = torch.tensor([0, 2, 3, 7])
    smaller = remove_units(model, 1, keep)
    x = torch.randn(5, 12)
    expected = zero_units(model, 1, [1, 4, 5, 6])(x)
    assert smaller[1].out_features == 4 and smaller[3].in_features == 4
    torch.testing.assert_close(smaller(x), expected)


def test_batchnorm_statistics_follow_their_units():
    model = mlp(batchnorm=True)
    model[2].running_mean.copy_(torch.arange(8.0))
    smaller = remove_units(model, 1, torch.tensor([1, 5]))
    assert smaller[2].num_features == 2
    assert smaller[2].running_mean.tolist() == [1.0, 5.0]


def test_conv_channels_removed_through_flatten():
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 5)
    ).eval()
    assert prunable_layers(model) == [0]
    smaller = remove_units(model, 0, torch.tensor([0, 3]))
    x = torch.randn(2, 1, 8, 8)
    oracle = zero_units(model, 0, [])  # zero the flattened columns of channels 1 and 2
    with torch.no_grad():
        oracle[4].weight.view(5, 4, 9)[:, [1, 2], :] = 0
    assert smaller[4].in_features == 18
    torch.testing.assert_close(smaller(x), oracle(x))


def test_optimizer_state_is_sliced_like_the_weights():
    model = mlp(bias=True)
    keep = torch.tensor([2, 6])
    plan = removal_plan(model, 1, keep)
    state = {
        name: {"exp_avg": p.detach().clone() * 2, "step": torch.tensor(3.0)}
        for name, p in model.named_parameters()
    }
    smaller = remove_units(model, 1, keep)
    sliced = slice_parameter_state(model, smaller, plan, state)
    for name, p in smaller.named_parameters():
        torch.testing.assert_close(sliced[name]["exp_avg"], p.detach() * 2)
        assert float(sliced[name]["step"]) == 3.0


def test_spec_round_trip_rebuilds_the_same_architecture():
    model = mlp(batchnorm=True)
    rebuilt = build_from_spec(describe(model))
    rebuilt.load_state_dict(model.state_dict())
    model.eval(), rebuilt.eval()
    x = torch.randn(4, 12)
    torch.testing.assert_close(rebuilt(x), model(x))
