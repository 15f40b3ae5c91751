"""Random gradient pruning removes exactly the disconnected weights; dead units are deleted."""

import torch
from torch import nn

from tomoprune.methods.l0.gradient_pruning import (
    dead_units,
    random_gradient_prune,
    remove_dead_units,
)


def dense_mlp(seed=0):
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 2))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        for layer in (model[0], model[2]):
            layer.bias.abs_()  # every unit active on part of the input
    return model


def snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_gradient_pruning_removes_exactly_a_dead_units_weights():
    model = dense_mlp()
    with torch.no_grad():
        model[2].weight[:, 3] = 0  # unit 3 of the first hidden layer feeds nothing
        model[4].weight[:, 1] = 0  # unit 1 of the second hidden layer feeds nothing
    before = snapshot(model)
    result = random_gradient_prune(model, (4,), generator=torch.Generator().manual_seed(1))
    expected = {name: value.clone() for name, value in before.items()}
    expected["0.weight"][3] = 0  # incoming weights and bias of the dead units
    expected["0.bias"][3] = 0
    expected["2.weight"][1] = 0
    expected["2.bias"][1] = 0
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), expected[name], rtol=0, atol=0)
    # row 1 of layer 2 had 5 weights, one of them (column 3) already zero
    assert result.zeroed == 4 + 1 + 4 + 1
    assert result.per_parameter == {
        "0.weight": 4,
        "0.bias": 1,
        "2.weight": 4,
        "2.bias": 1,
        "4.weight": 0,
        "4.bias": 0,
    }


def test_gradient_pruning_cuts_the_outputs_of_a_unit_without_inputs():
    model = dense_mlp()
    with torch.no_grad():
        model[0].weight[2] = 0  # unit 2: no incoming weights and no bias -> always 0
        model[0].bias[2] = 0
    random_gradient_prune(model, (4,), generator=torch.Generator().manual_seed(1))
    assert torch.all(model[2].weight[:, 2] == 0)
    assert torch.count_nonzero(model[2].weight) == 6 * 5 - 6


def test_gradient_pruning_keeps_a_unit_with_a_constant_positive_output():
    model = dense_mlp()
    with torch.no_grad():
        model[0].weight[2] = 0  # no inputs, but relu(bias) > 0 still reaches the output
        model[0].bias[2] = 0.5
    random_gradient_prune(model, (4,), generator=torch.Generator().manual_seed(1))
    assert torch.all(model[2].weight[:, 2] != 0)


def test_dead_units_are_deleted_without_changing_the_function():
    model = dense_mlp()
    with torch.no_grad():
        model[2].weight[:, [0, 3]] = 0
        model[4].weight[:, 5] = 0
    random_gradient_prune(model, (4,), generator=torch.Generator().manual_seed(1))
    example = torch.zeros(1, 4)
    dead = {k: v.tolist() for k, v in dead_units(model, example).items()}
    assert dead == {"0": [0, 3], "2": [5]}
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(2))
    smaller, removed, _ = remove_dead_units(model, example)
    assert removed == {"0": 2, "2": 1}
    assert smaller[0].out_features == 3 and smaller[2].weight.shape == (5, 3)
    assert smaller[4].in_features == 5
    torch.testing.assert_close(smaller(x), model(x))


def test_dead_conv_channels_are_found_through_pooling_and_flatten():
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 3, 3),
        nn.Flatten(),
        nn.Linear(3 * 1 * 1, 2),
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        model[2].weight[:, 1] = 0  # conv channel 1 feeds nothing
        model[4].weight[:, 2] = 0  # second conv's channel 2 feeds nothing
    x = torch.randn(8, 1, 8, 8, generator=g)
    reference = model(x)
    random_gradient_prune(model, (1, 8, 8), generator=torch.Generator().manual_seed(1))
    assert torch.all(model[0].weight[1] == 0) and torch.all(model[2].weight[2] == 0)
    smaller, removed, _ = remove_dead_units(model, x[:1])
    assert removed == {"0": 1, "2": 1}
    torch.testing.assert_close(smaller(x), reference)


def test_units_silent_on_noise_survive_unless_the_literal_test_is_asked_for():
    def model_with_shy_unit():
        model = dense_mlp()
        with torch.no_grad():
            model[0].bias[1] = -100.0  # unit 1 never fires on unit-scale noise
        return model

    opened = model_with_shy_unit()
    random_gradient_prune(opened, (4,), generator=torch.Generator().manual_seed(1))
    assert torch.all(opened[0].weight[1] != 0) and torch.all(opened[2].weight[:, 1] != 0)
    literal = model_with_shy_unit()
    random_gradient_prune(
        literal, (4,), generator=torch.Generator().manual_seed(1), activations="model"
    )
    assert torch.all(literal[0].weight[1] == 0) and torch.all(literal[2].weight[:, 1] == 0)
    assert torch.count_nonzero(literal[0].weight) == 4 * 4  # nothing else
