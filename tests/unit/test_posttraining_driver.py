"""The post-training driver: layer patterns, any input rank, sequential calibration against a
hand-run two-layer oracle, the greedy compressor on it, and one-line setting errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from tomoprune.errors import ConfigError
from tomoprune.methods.greedy.algorithm import greedy_compress
from tomoprune.methods.greedy.params import GreedyParams
from tomoprune.posttraining import GPTQ, RTN, Greedy, SparseGPT, Wanda, compress_, oracle


def mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 8)).double()


def inputs(shape=(64, 12), seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def hessian(x: torch.Tensor) -> np.ndarray:
    x = x.reshape(-1, x.shape[-1])
    return (x.T @ x / x.shape[0]).numpy()


def test_sequential_calibration_matches_a_hand_run_two_layer_oracle():
    model, x = mlp(), inputs()
    settings = GPTQ(bits=3, precision="float64")
    report = compress_(model, settings, calibration=[x[:32], x[32:]])
    reference = mlp()
    w0, _ = oracle.gptq(reference[0].weight.detach().numpy(), hessian(x), 3)
    with torch.no_grad():
        reference[0].weight.copy_(torch.from_numpy(w0))
        h1 = torch.relu(reference[0](x))
    w1, _ = oracle.gptq(reference[2].weight.detach().numpy(), hessian(h1), 3)
    np.testing.assert_allclose(model[0].weight.detach().numpy(), w0, atol=1e-9)
    np.testing.assert_allclose(model[2].weight.detach().numpy(), w1, atol=1e-9)
    assert [r["layer"] for r in report.layers] == ["0", "2"]
    assert report.layers[0]["samples"] == 64


def test_dense_input_calibration_differs_from_sequential():
    x = inputs()
    sequential, dense = mlp(), mlp()
    compress_(sequential, GPTQ(bits=2), calibration=x)
    compress_(dense, GPTQ(bits=2), calibration=x, sequential=False)
    assert torch.equal(sequential[0].weight, dense[0].weight)
    assert not torch.equal(sequential[2].weight, dense[2].weight)
    reference = mlp()
    with torch.no_grad():
        h1 = torch.relu(reference[0](x))
    w1, _ = oracle.gptq(reference[2].weight.detach().numpy(), hessian(h1), 2)
    np.testing.assert_allclose(dense[2].weight.detach().numpy(), w1, atol=1e-5)


class TokenMLP(nn.Module):
    """Linear layers fed (batch, tokens, features), with a named sub-block."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(12, 16)
        self.mlp = nn.ModuleDict({"up": nn.Linear(16, 24), "down": nn.Linear(24, 16)})

    def forward(self, x):
        h = self.embed(x)
        return self.mlp["down"](torch.relu(self.mlp["up"](h)))


@pytest.mark.parametrize("settings", [SparseGPT(), Wanda(nm="2:4"), GPTQ(bits=4, group_size=8)])
def test_three_dimensional_inputs_and_name_patterns(settings):
    torch.manual_seed(0)
    model = TokenMLP().double()
    x = inputs((4, 10, 12))
    embed_before = model.embed.weight.clone()
    report = compress_(model, settings, calibration=x, layers=["mlp.*"])
    assert [r["layer"] for r in report.layers] == ["mlp.up", "mlp.down"]
    assert report.layers[0]["samples"] == 40
    assert torch.equal(model.embed.weight, embed_before)


def test_conv1d_and_conv2d_layers_use_their_unfolded_patches():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv1d(8, 4, 2, stride=2))
    x = torch.randn(5, 3, 16)
    reference = copy.deepcopy(model)
    compress_(model, GPTQ(bits=3, precision="float64"), calibration=x, layers="0")
    patches = torch.nn.functional.unfold(x.unsqueeze(2), (1, 3), padding=(0, 1))
    cols = patches.transpose(1, 2).reshape(-1, 9).double()
    w0, _ = oracle.gptq(
        reference[0].weight.detach().reshape(8, -1).double().numpy(), hessian(cols), 3
    )
    np.testing.assert_allclose(model[0].weight.detach().reshape(8, -1).numpy(), w0, atol=1e-5)
    conv2d = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))
    report = compress_(conv2d, SparseGPT(), calibration=torch.randn(6, 2, 8, 8))
    assert [r["density"] for r in report.layers] == [0.5, 0.5]


def test_greedy_on_the_driver_equals_the_sequential_greedy_algorithm():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(12, 30), nn.ReLU(), nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 5)
    )
    x = torch.randn(50, 12)
    params = GreedyParams(wide_layers=(1, 2), mode="quant", bits=3, calibration_size=None, seed=4)
    expected = greedy_compress(model, x, params).model
    ours = copy.deepcopy(model)
    compress_(ours, Greedy(mode="quant", bits=3, seed=4), calibration=x, layers=["2", "4"])
    for position in (2, 4):
        assert torch.equal(ours[position].weight, expected[position].weight)


def test_rtn_and_magnitude_need_no_calibration():
    model = mlp()
    report = compress_(model, RTN(bits=4, group_size=4))
    assert all(r["bits"] == 4 for r in report.layers)
    compress_(model, "magnitude")
    assert float((model[0].weight == 0).double().mean()) == 0.5


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: GPTQ(static_groups=True), "'static_groups' setting of GPTQ needs 'group_size'"),
        (lambda: GPTQ(group_size=0), "'group_size' setting of GPTQ must be an integer >= 1"),
        (lambda: GPTQ(bits=0), "'bits' setting of GPTQ must be an integer between 1 and 16"),
        (lambda: GPTQ(act_order="yes"), "'act_order' setting of GPTQ"),
        (lambda: SparseGPT(nm="3:2"), "'nm' setting of SparseGPT must be 'N:M'"),
        (lambda: SparseGPT(nm="2:4", block_size=6), "multiple of M = 4"),
        (
            lambda: Wanda(sparsity=1.0),
            "'sparsity' setting of Wanda must be a number between 0 and 1, 1 excluded",
        ),
    ],
)
def test_settings_are_validated_with_one_line_errors(make, message):
    with pytest.raises(ConfigError) as error:
        make()
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_layer_errors_are_one_line():
    with pytest.raises(ConfigError, match="matches no Linear"):
        compress_(mlp(), GPTQ(), calibration=inputs(), layers=["mlp.*"])
    with pytest.raises(ConfigError, match="not a multiple of M = 4"):
        compress_(
            nn.Sequential(nn.Linear(6, 4)).double(), Wanda(nm="2:4"), calibration=inputs((8, 6))
        )
    with pytest.raises(ConfigError, match="needs calibration data"):
        compress_(mlp(), GPTQ())


def test_sequential_greedy_and_baselines_take_token_inputs_and_conv1d():
    from tomoprune.methods.greedy.baselines import baseline_compress
    from tomoprune.methods.greedy.params import BaselineParams

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
    tokens = torch.randn(5, 7, 6)
    result = greedy_compress(model, tokens, GreedyParams(wide_layers=(0, 1)))
    assert [r["compressed"] for r in result.layers] == [int(0.9 * 48), int(0.9 * 32)]
    for name in ("wanda", "obs"):
        records = baseline_compress(model, tokens, name, BaselineParams(layers=(0, 1))).layers
        assert [r["calibration_samples"] for r in records] == [35, 35]
    conv = nn.Sequential(nn.Conv1d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(40, 2))
    signal = torch.randn(6, 3, 10)
    assert greedy_compress(conv, signal, GreedyParams(wide_layers=(0,))).layers[0]["compressed"]
    out = baseline_compress(conv, signal, "obs", BaselineParams(layers=(0, 1))).model
    assert int((out[0].weight != 0).sum()) == round(0.37 * 36)
