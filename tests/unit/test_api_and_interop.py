"""The Python API, Torch-Pruning interop and exact reload without pickle."""

import copy

import numpy as np
import pytest
import torch
import torch_pruning as tp
from torch import nn

from tomoprune import Compressor, Schedule, load_compressed
from tomoprune.engine.method import CycleContext
from tomoprune.errors import RecordError
from tomoprune.methods.neuron.method import (
    DTCParams,
    NeuronPruning,
    NeuronPruningParams,
    keep_count,
)
from tomoprune.methods.neuron.tp_importance import ScorerImportance


class ConvNet(nn.Module):
    """conv -> bn -> relu -> conv (+ skip) -> pool -> flatten -> fc -> relu -> fc."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 12, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(12)
        self.conv2 = nn.Conv2d(12, 12, 3, padding=1)
        self.fc1 = nn.Linear(12 * 4 * 4, 30)
        self.fc2 = nn.Linear(30, 3)

    def forward(self, x):
        a = torch.relu(self.bn1(self.conv1(x)))
        b = torch.relu(self.conv2(a) + a)
        return self.fc2(torch.relu(self.fc1(nn.functional.max_pool2d(b, 2).flatten(1))))


def convnet(seed=0):
    torch.manual_seed(seed)
    model = ConvNet()
    with torch.no_grad():
        model.bn1.running_mean.uniform_(-0.5, 0.5)
        model.bn1.running_var.uniform_(0.5, 1.5)
    return model.eval()


def data(n=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=g)
    y = (x.mean(dim=(1, 2, 3)) > 0).long() + (x[:, 0, 0, 0] > 0).long()
    return x, y


def tomoprune_step(model, params, name):
    method = NeuronPruning(name, params, train_config=None)
    method.prepare(model, torch.zeros(1, 1, 8, 8))
    context = CycleContext(1, torch.device("cpu"), None, None, None, np.random.default_rng(0))
    return method.compress(model, context).model


@pytest.mark.parametrize("scorer", ["dtc", "magnitude"])
def test_scorer_as_torch_pruning_importance_prunes_the_same_units(scorer):
    model = convnet()
    fraction = 0.25
    params = (DTCParams if scorer == "dtc" else NeuronPruningParams)(
        fraction=fraction, min_width=2, **({"measurement_fraction": 0.5} if scorer == "dtc" else {})
    )
    ours = tomoprune_step(copy.deepcopy(model), params, scorer)

    theirs = copy.deepcopy(model)
    # per group, the ratio whose Torch-Pruning count int(width * (1 - r)) is keep_count(width)
    ratios = {
        m: 1 - (keep_count(w, fraction) + 0.5) / w
        for m, w in ((theirs.conv1, 12), (theirs.fc1, 30))
    }
    importance = ScorerImportance(
        scorer, **({"measurement_fraction": 0.5} if scorer == "dtc" else {})
    )
    pruner = tp.pruner.BasePruner(
        theirs,
        torch.zeros(1, 1, 8, 8),
        importance=importance,
        pruning_ratio=0.0,
        pruning_ratio_dict=ratios,
        ignored_layers=[theirs.fc2],
    )
    pruner.step()
    assert ours.conv1.out_channels == theirs.conv1.out_channels == keep_count(12, fraction)
    assert ours.fc1.out_features == theirs.fc1.out_features == keep_count(30, fraction)
    for (name, a), (_, b) in zip(
        ours.state_dict().items(), theirs.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_five_line_api_compresses_a_residual_net_and_carries_adam():
    x, y = data()
    model = convnet()
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    compressor = Compressor(
        model, x[:1], scorer="dtc", schedule=Schedule(fraction=0.3, min_width=4)
    )
    assert [g.name for g in compressor.groups] == ["conv1", "fc1"]
    assert compressor.groups[0].producers == ("conv1", "conv2")  # residual-coupled
    current = compressor.model
    for _ in range(3):
        for _ in range(3):
            optimizer.zero_grad()
            nn.functional.cross_entropy(current(x), y).backward()
            optimizer.step()
        step = compressor.step(optimizer)
        current, optimizer = step.model, step.optimizer
        # the optimizer now holds exactly the smaller model's parameters, moments shaped alike
        params = list(current.parameters())
        assert [p for g in optimizer.param_groups for p in g["params"]] == params
        for p in params:
            assert optimizer.state[p]["exp_avg"].shape == p.shape
    assert current.conv1.out_channels == current.conv2.out_channels == current.bn1.num_features
    assert step.row["width_conv1"] == current.conv1.out_channels < 12
    assert step.row["parameters"] == sum(p.numel() for p in current.parameters())


def test_saved_model_reloads_exactly_from_the_original_architecture(tmp_path):
    x, _ = data()
    compressor = Compressor(convnet(), x[:1], scorer="magnitude", schedule=Schedule(fraction=0.4))
    for _ in range(2):
        compressor.step()
    with torch.no_grad():  # weights that differ from the original's, to prove they are loaded
        for p in compressor.model.parameters():
            p.add_(0.01)
    compressor.save(tmp_path)
    assert {f.name for f in tmp_path.iterdir()} == {"model.safetensors", "removal.json"}
    reloaded = load_compressed(convnet(seed=5), x[:1], tmp_path).eval()
    compressor.model.eval()
    assert torch.equal(reloaded(x), compressor.model(x))


def test_reloading_onto_another_architecture_fails_with_one_line(tmp_path):
    x, _ = data()
    compressor = Compressor(convnet(), x[:1], scorer="random", schedule=Schedule(fraction=0.5))
    compressor.step()
    compressor.save(tmp_path)
    other = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.ReLU(), nn.Linear(10, 3))
    with pytest.raises(RecordError, match="build the model the record was made from"):
        load_compressed(other, x[:1], tmp_path)


def test_the_built_in_resnet_is_compressed_by_dtc_through_the_api():
    """Residual additions tie the stem's channels to every block output of the first stage (and
    each stage's shortcut to its blocks): those channels go together, and the outputs of a
    channel removed from all of them are gone from every addition at once."""
    from tomoprune.models.resnet import ResNet

    torch.manual_seed(0)
    model = ResNet(in_channels=1, num_classes=10, widths=(8, 16), blocks=(2, 1))
    x = torch.randn(16, 1, 12, 12)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    compressor = Compressor(
        model, x[:1], scorer="dtc", schedule=Schedule(fraction=0.25, min_width=2)
    )
    step = compressor.step(optimizer)
    smaller = step.model
    stem, first = smaller.stem[0], smaller.stages[0]
    # one group: the stem and both blocks of stage 1 produce the same (coupled) channels
    assert stem.out_channels == first[0].conv2.out_channels == first[1].conv2.out_channels < 8
    assert first[1].conv1.in_channels == stem.out_channels
    assert smaller(x).shape == (16, 10)
    assert sum(p.numel() for p in smaller.parameters()) < sum(p.numel() for p in model.parameters())
    assert set(step.optimizer.state) <= set(smaller.parameters())
