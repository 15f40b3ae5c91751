"""Built-in architectures by name: MLPs of any depth, the LeNets, the small ResNet."""

import math

import pytest
import torch
from torch import nn

from tomoprune import config as cfg
from tomoprune.errors import ConfigError, RecordError, UnsupportedModelError
from tomoprune.models import build_model
from tomoprune.models.resnet import ResNet
from tomoprune.models.spec import build_from_spec, describe, load_model, save_model
from tomoprune.runs.resolve import from_dict, resolve_run_config


def _config(**overrides):
    return resolve_run_config("dtc", overrides=overrides).model


def _build(input_shape=(1, 28, 28), seed=0, **overrides):
    return build_model(_config(**overrides), input_shape, 10, torch.Generator().manual_seed(seed))


def test_one_width_builds_exactly_the_paper_network():
    # the paper's MLP as it was built before several widths were possible (independent oracle)
    g = torch.Generator().manual_seed(7)
    first, second = nn.Linear(784, 64, bias=False), nn.Linear(64, 10, bias=False)
    nn.init.xavier_normal_(first.weight, generator=g)
    nn.init.xavier_normal_(second.weight, generator=g)
    model = _build(seed=7, **{"model.hidden": "64"})
    assert [type(m) for m in model] == [nn.Flatten, nn.Linear, nn.ReLU, nn.Linear]
    assert torch.equal(model[1].weight, first.weight)
    assert torch.equal(model[3].weight, second.weight)


def test_several_widths_build_a_deep_mlp_in_order():
    model = _build(**{"model.hidden": "32,16,8", "model.bias": "true"})
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (784, 32),
        (32, 16),
        (16, 8),
        (8, 10),
    ]
    assert sum(isinstance(m, nn.ReLU) for m in model) == 3
    assert all(int(torch.count_nonzero(m.bias)) == 0 for m in linears)
    assert model(torch.randn(5, 1, 28, 28)).shape == (5, 10)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("512", 512), (" 512 , 256,128", (512, 256, 128)), ([64], 64), ([8, 4], (8, 4))],
)
def test_widths_parse_to_an_int_or_a_tuple(text, expected):
    assert cfg.parse_widths(text) == expected


@pytest.mark.parametrize("bad", ["0", "512,,3", "512,", "abc", "", "-4", "1.5", [], [True]])
def test_bad_widths_are_rejected_with_one_line(bad):
    with pytest.raises(ConfigError) as info:
        _config(**{"model.hidden": bad})
    message = str(info.value)
    assert "model.hidden" in message and "\n" not in message


def test_deep_widths_survive_the_config_round_trip():
    config = resolve_run_config("dtc", overrides={"model.hidden": "12,6"})
    assert config.model.hidden == (12, 6)
    rebuilt = from_dict(cfg.to_dict(config))
    assert rebuilt.model.hidden == (12, 6)
    assert cfg.to_dict(resolve_run_config("dtc"))["model"]["hidden"] == 512


def test_lenets_keep_their_published_sizes():
    lenet300 = _build(**{"model.name": "lenet300", "model.bias": "true"})
    lenet5 = _build(**{"model.name": "lenet5", "model.bias": "true"})
    assert sum(p.numel() for p in lenet300.parameters()) == 266_610
    assert sum(p.numel() for p in lenet5.parameters()) == 431_080


def test_resnet_has_residual_blocks_and_classifies_28x28_images():
    model = _build(**{"model.name": "resnet"})
    assert isinstance(model, ResNet) and not isinstance(model, nn.Sequential)
    assert model.stages[1][0].downsample is not None  # a strided stage has a 1x1 shortcut
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    assert 50_000 < sum(p.numel() for p in model.parameters()) < 100_000


def test_resnet_is_reproducible_from_its_seed():
    a, b = _build(seed=3, **{"model.name": "resnet"}), _build(seed=3, **{"model.name": "resnet"})
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


def test_resnet_saves_and_reloads_by_builder_name_without_pickle(tmp_path):
    model = _build(**{"model.name": "resnet"}).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so buffers must round-trip too
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    save_model(model, tmp_path / "m.safetensors", tmp_path / "m.json")
    loaded = load_model(tmp_path / "m.safetensors", tmp_path / "m.json").eval()
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(loaded(x), model(x))
    assert describe(model)["builder"] == "resnet"


def test_a_foreign_module_cannot_be_described_and_a_bad_spec_is_a_record_error():
    class Custom(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(UnsupportedModelError, match="Custom"):
        describe(Custom())
    with pytest.raises(RecordError):
        build_from_spec({"builder": "vgg", "arguments": {}})


def test_images_too_small_for_lenet5_give_a_config_error():
    with pytest.raises(ConfigError, match="lenet5"):
        _build(input_shape=(1, 8, 8), **{"model.name": "lenet5"})


def test_resnet_trains_one_step_on_cpu():
    model = _build(**{"model.name": "resnet"})
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    assert math.isfinite(float(loss.detach()))
