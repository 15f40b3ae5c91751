"""Unit groups: found at every joint type, removed physically without changing the function.

The oracle at each joint: a unit whose outgoing weights are zero (set by hand below, not from
the group) contributes nothing downstream, so removing its whole group slice must leave the
outputs unchanged to float tolerance.
"""

import pytest
import torch
from torch import nn

from tomoprune.errors import UnsupportedModelError
from tomoprune.models.spec import build_from_spec, describe
from tomoprune.structure import (
    apply_removal,
    find_groups,
    plan_removal,
    slice_parameter_state,
)


def randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g))
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


def kept_all_but(group, drop):
    return [u for u in range(group.width) if u not in drop]


def assert_removal_keeps_outputs(model, x, drops):
    groups = {g.name: g for g in find_groups(model, x[:1])}
    keep = {name: kept_all_but(groups[name], drop) for name, drop in drops.items()}
    smaller = apply_removal(model, plan_removal(model, list(groups.values()), keep))
    torch.testing.assert_close(smaller(x), model(x))
    return groups, smaller


def test_linear_to_linear():
    model = randomised(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)))
    with torch.no_grad():
        model[2].weight[:, [1, 4]] = 0
    x = torch.randn(5, 6)
    groups, smaller = assert_removal_keeps_outputs(model, x, {"0": [1, 4]})
    assert list(groups) == ["0"]  # the output layer is never a group
    assert smaller[0].out_features == 6 and smaller[2].in_features == 6


def test_conv_batchnorm_conv():
    model = randomised(
        nn.Sequential(
            nn.Conv2d(2, 5, 3, padding=1),
            nn.BatchNorm2d(5),
            nn.ReLU(),
            nn.Conv2d(5, 4, 3),
            nn.Flatten(),
            nn.Linear(4 * 4 * 4, 2),
        )
    )
    with torch.no_grad():
        model[3].weight[:, 2] = 0
    x = torch.randn(3, 2, 6, 6)
    groups, smaller = assert_removal_keeps_outputs(model, x, {"0": [2]})
    assert smaller[1].num_features == 4 and smaller[1].running_mean.shape == (4,)
    assert smaller[3].in_channels == 4
    assert set(groups) == {"0", "3"}


def test_conv_flatten_linear_removes_the_block_of_columns_of_each_channel():
    model = randomised(
        nn.Sequential(
            nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 5)
        )
    )
    with torch.no_grad():
        model[4].weight.view(5, 4, 9)[:, [1, 2], :] = 0
    x = torch.randn(2, 1, 8, 8)
    _, smaller = assert_removal_keeps_outputs(model, x, {"0": [1, 2]})
    assert smaller[4].in_features == 18


class Residual(nn.Module):
    """stem -> (conv -> relu -> conv) + stem -> pool -> fc: the two convs' channels add up."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv1 = nn.Conv2d(4, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        a = self.bn(self.stem(x))
        b = self.conv2(torch.relu(self.conv1(a))) + a
        return self.fc(torch.relu(b).mean(dim=(2, 3)))


def test_residual_addition_couples_the_channels_of_both_producers():
    model = randomised(Residual())
    groups = {g.name: g for g in find_groups(model, torch.zeros(1, 1, 6, 6))}
    assert set(groups) == {"stem", "conv1"}
    assert groups["stem"].producers == ("stem", "conv2")
    assert set(groups["stem"].consumers) == {"conv1", "fc"}
    with torch.no_grad():  # channel 1 of the sum: read by conv1 and fc
        model.conv1.weight[:, 1] = 0
        model.fc.weight[:, 1] = 0
    x = torch.randn(2, 1, 6, 6)
    _, smaller = assert_removal_keeps_outputs(model, x, {"stem": [1]})
    assert smaller.stem.out_channels == 3 and smaller.conv2.out_channels == 3
    assert smaller.bn.num_features == 3 and smaller.fc.in_features == 3


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.left = nn.Linear(5, 4)
        self.right = nn.Linear(5, 3)
        self.head = nn.Linear(7, 2)

    def forward(self, x):
        return self.head(torch.cat([torch.relu(self.left(x)), torch.tanh(self.right(x))], dim=1))


def test_concatenation_offsets_the_second_producers_columns():
    model = randomised(Concat())
    with torch.no_grad():
        model.head.weight[:, [0, 4 + 2]] = 0  # left unit 0 and right unit 2
    x = torch.randn(4, 5)
    groups, smaller = assert_removal_keeps_outputs(model, x, {"left": [0], "right": [2]})
    assert groups["right"].by_role("consumer")[0].positions.tolist() == [4, 5, 6]
    assert smaller.head.in_features == 5


def test_adam_moments_are_sliced_value_by_value():
    model = randomised(
        nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    )
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(16, 6)).square().mean().backward()
        optimizer.step()
    groups = find_groups(model, torch.zeros(2, 6))
    keep = [0, 3, 5, 6]
    removal = plan_removal(model, groups, {"0": keep})
    smaller = apply_removal(model, removal)
    names = {id(p): n for n, p in model.named_parameters()}
    state = {names[id(p)]: dict(s) for p, s in optimizer.state.items()}
    sliced = slice_parameter_state(model, removal, state)
    rows = torch.tensor(keep)
    expected_cut = {"0.weight": (0,), "0.bias": (0,), "1.weight": (0,), "1.bias": (0,)}
    for name, p in smaller.named_parameters():
        for moment in ("exp_avg", "exp_avg_sq"):
            old = state[name][moment]
            if name in expected_cut:
                want = old.index_select(0, rows)
            elif name == "3.weight":
                want = old.index_select(1, rows)
            else:
                want = old
            assert torch.equal(sliced[name][moment], want), (name, moment)
            assert sliced[name][moment].shape == p.shape
        assert torch.equal(sliced[name]["step"], state[name]["step"])


def test_a_bidirectional_lstm_fails_with_one_line_naming_it_and_the_fix():
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(4, 3, batch_first=True, bidirectional=True)
            self.fc = nn.Linear(6, 2)

        def forward(self, x):
            return self.fc(self.rnn(x)[0][:, -1])

    with pytest.raises(UnsupportedModelError) as info:
        find_groups(Tagger(), torch.zeros(1, 3, 4))
    message = str(info.value)
    assert "\n" not in message
    assert "'rnn' (LSTM)" in message and "ignored_layers=[model.rnn]" in message


def test_a_custom_per_channel_scale_is_sliced_with_its_channels():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(torch.arange(1.0, 5.0))

        def forward(self, x):
            return x * self.gain

    model = nn.Sequential(nn.Linear(3, 4), Scale(), nn.Linear(4, 2))
    groups = find_groups(model, torch.zeros(1, 3))
    smaller = apply_removal(model, plan_removal(model, groups, {"0": [0, 2]}))
    assert torch.equal(smaller[1].gain, torch.tensor([1.0, 3.0]))


def test_a_custom_layer_with_its_own_matrix_is_refused():
    class Mix(nn.Module):
        def __init__(self):
            super().__init__()
            self.mix = nn.Parameter(torch.ones(4, 4))

        def forward(self, x):
            return x @ self.mix

    model = nn.Sequential(nn.Linear(3, 4), Mix(), nn.Linear(4, 2))
    with pytest.raises(UnsupportedModelError, match=r"layer '1' \(Mix\)"):
        find_groups(model, torch.zeros(1, 3))


def test_every_prunable_layer_type_can_be_described_and_rebuilt():
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3),
        nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(27, 5),
        nn.BatchNorm1d(5),
        nn.Tanh(),
        nn.Linear(5, 2),
    )
    model = randomised(model)
    rebuilt = build_from_spec(describe(model))
    rebuilt.load_state_dict(model.state_dict())
    rebuilt.eval()
    x = torch.randn(4, 1, 8, 8)
    torch.testing.assert_close(rebuilt(x), model(x))


def test_ignored_layers_cut_the_graph_and_keep_their_neighbours_units():
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(4, 8)
            self.rnn = nn.LSTM(8, 6, batch_first=True)
            self.fc1 = nn.Linear(6, 5)
            self.fc = nn.Linear(5, 2)

        def forward(self, x):
            hidden = self.rnn(torch.relu(self.embed(x)))[0][:, -1]
            return self.fc(torch.relu(self.fc1(hidden)))

    model = Tagger()
    groups = find_groups(model, torch.zeros(1, 3, 4), ignored_layers=[model.rnn])
    # embed's units feed the LSTM, which cannot lose inputs: only fc1's units form a group
    assert [(g.name, g.consumers, g.width) for g in groups] == [("fc1", ("fc",), 5)]
