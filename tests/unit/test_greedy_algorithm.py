"""The randomized greedy compressor against independent oracles: Monte-Carlo expectations,
the literal algorithm, the grid, and invariances."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from tomoprune.errors import ConfigError
from tomoprune.methods.greedy.algorithm import greedy_compress, remove_dead_units
from tomoprune.methods.greedy.candidates import make_candidates
from tomoprune.methods.greedy.fast import closed_form_scores, input_energy
from tomoprune.methods.greedy.params import GreedyParams
from tomoprune.posttraining.replacement import UniformGrid, prune_replacement


def mlp(widths, seed=0, bias=False) -> nn.Sequential:
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        lin = nn.Linear(a, b, bias=bias).double()
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=g, dtype=torch.float64) / a**0.5)
            if bias:
                lin.bias.copy_(0.1 * torch.randn(b, generator=g, dtype=torch.float64))
        layers.append(lin)
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def data(n, d, seed=1):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("mode", ["prune", "quant"])
def test_closed_form_score_equals_monte_carlo_expected_loss_change(mode):
    torch.manual_seed(0)
    layer = nn.Linear(5, 3, bias=False).double()
    x = data(20, 5)
    grid = UniformGrid.symmetric(float(layer.weight.detach().abs().max()), 2)
    cands = make_candidates(layer, kind="weight", mode=mode, p=0.3, grid=grid)
    closed = closed_form_scores(cands, input_energy(layer, x))
    law = cands.replacement
    gen = torch.Generator().manual_seed(5)
    # a partly compressed starting point: the closed form must not depend on it
    residual = 0.3 * data(20, 3, seed=9)
    weight = layer.weight.detach()
    for index in range(cands.count):
        t = torch.where(
            torch.rand(100_000, generator=gen, dtype=torch.float64) < law.prob_high[index],
            law.high[index],
            law.low[index],
        )
        i, j = divmod(index, 5)
        # E_t L(after) - L(before) with L = mean_s ||r_s - (t - w) x_sj e_i||^2, by sampling t
        after = (residual[:, i : i + 1] - (t[None, :] - weight[i, j]) * x[:, j : j + 1]).pow(2)
        per_draw = after.mean(0) - residual[:, i].pow(2).mean()
        monte_carlo = float(per_draw.mean())
        standard_error = float(per_draw.std()) / per_draw.numel() ** 0.5
        assert abs(float(closed[index]) - monte_carlo) <= 4 * standard_error + 1e-12


@pytest.mark.parametrize(
    "setting",
    [
        dict(wide_layers=(1,), pair_layers=()),
        dict(wide_layers=(), pair_layers=(0,)),
        dict(wide_layers=(1,), pair_layers=(), mode="quant", bits=2),
        dict(wide_layers=(), pair_layers=(0,), mode="quant", bits=3),
        dict(wide_layers=(1,), pair_layers=(), structured=True),
        dict(wide_layers=(), pair_layers=(0,), structured=True),
    ],
)
def test_fast_and_literal_greedy_choose_the_same_weights(setting):
    model = mlp([4, 6, 5, 2], bias=("structured" in setting))
    x = data(64, 4)
    params = GreedyParams(alpha=0.8, p=0.3, calibration_size=None, seed=3, **setting)
    fast = greedy_compress(model, x, params)
    literal = greedy_compress(model, x, dataclasses.replace(params, implementation="literal"))
    assert fast.compressed == literal.compressed
    for a, b in zip(fast.model.parameters(), literal.model.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_alpha_zero_changes_nothing():
    model = mlp([6, 8, 3])
    x = data(32, 6)
    for mode in ("prune", "quant"):
        for pair in ((), (0,)):
            params = GreedyParams(
                mode=mode, alpha=0.0, wide_layers=() if pair else (1,), pair_layers=pair
            )
            out = greedy_compress(model, x, params).model
            for a, b in zip(out.parameters(), model.parameters(), strict=True):
                assert torch.equal(a, b)


def test_same_seed_same_network_and_other_seed_differs():
    model = mlp([6, 30, 3])
    x = data(32, 6)
    params = GreedyParams(wide_layers=(1,), seed=11)
    a = greedy_compress(model, x, params).model
    b = greedy_compress(model, x, params).model
    c = greedy_compress(model, x, dataclasses.replace(params, seed=12)).model
    assert torch.equal(a[2].weight, b[2].weight)
    assert not torch.equal(a[2].weight, c[2].weight)


def test_pruning_keeps_expected_share_and_rescales_survivors():
    model = mlp([10, 200, 40])
    x = data(128, 10)
    out = greedy_compress(model, x, GreedyParams(wide_layers=(1,), alpha=0.9, p=0.3)).model
    w0, w1 = model[2].weight, out[2].weight
    changed = w1 != w0
    assert int(changed.sum()) <= int(0.9 * w0.numel())
    survivors = changed & (w1 != 0)
    torch.testing.assert_close(w1[survivors], w0[survivors] / 0.3)
    density = float((w1 != 0).double().mean())
    assert density == pytest.approx(1 - 0.9 + 0.9 * 0.3, abs=0.03)


@pytest.mark.parametrize("bits", [2, 3, 8])
def test_quantized_weights_lie_on_the_grid_and_are_unbiased(bits):
    w = torch.linspace(-1.3, 0.9, 37, dtype=torch.float64)
    grid = UniformGrid.symmetric(float(w.abs().max()), bits)
    law = grid.stochastic(w)
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack(
        [law.draw(torch.rand(37, generator=gen, dtype=torch.float64)) for _ in range(20_000)]
    )
    codes = (draws - grid.offset) / grid.scale
    torch.testing.assert_close(codes, codes.round(), atol=1e-9, rtol=0)
    assert codes.min() >= 0 and codes.max() <= grid.levels - 1
    spacing = grid.scale
    torch.testing.assert_close(draws.mean(0), w, atol=4 * spacing / 20_000**0.5, rtol=0)
    assert float((draws - w).abs().max()) <= spacing + 1e-12
    torch.testing.assert_close(prune_replacement(w, 0.3).mean, w)


def test_greedy_quantized_layer_lies_on_grid_where_compressed():
    model = mlp([6, 40, 3])
    x = data(32, 6)
    result = greedy_compress(model, x, GreedyParams(mode="quant", bits=3, wide_layers=(1,)))
    grid = result.grids[1]
    flat = result.model[2].weight.detach().reshape(-1)
    chosen = torch.tensor(result.compressed[1])
    codes = (flat[chosen] - grid.offset) / grid.scale
    torch.testing.assert_close(codes, codes.round(), atol=1e-9, rtol=0)


def test_removing_a_unit_with_zero_outgoing_weights_leaves_outputs_unchanged():
    model = mlp([5, 7, 3], bias=True)
    with torch.no_grad():
        model[2].weight[:, 4] = 0
    x = data(20, 5)
    smaller = remove_dead_units(model, x[:1])
    assert smaller[0].out_features == 6
    torch.testing.assert_close(smaller(x), model(x))


def test_structured_pruning_removes_units_physically():
    model = mlp([8, 50, 20, 3])
    x = data(64, 8)
    out = greedy_compress(
        model, x, GreedyParams(structured=True, wide_layers=(1,), alpha=0.9, p=0.3)
    ).model
    assert out[0].out_features < 50
    assert out[2].in_features == out[0].out_features


def test_unsupported_layer_fails_with_one_line_naming_it():
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    with pytest.raises(ConfigError, match=r"layer 1 \(LayerNorm\) is not supported") as info:
        greedy_compress(model, torch.randn(4, 4), GreedyParams(wide_layers=(1,)))
    assert "\n" not in str(info.value)


def test_invalid_layer_sets_are_rejected():
    model = mlp([4, 6, 5, 2])
    x = data(8, 4)
    with pytest.raises(ConfigError, match="disjoint"):
        greedy_compress(model, x, GreedyParams(wide_layers=(1,), pair_layers=(1,)))
    with pytest.raises(ConfigError, match="directly follows"):
        greedy_compress(model, x, GreedyParams(wide_layers=(1,), pair_layers=(0,)))
    with pytest.raises(ConfigError, match="model has 3"):
        greedy_compress(model, x, GreedyParams(wide_layers=(5,)))


def test_conv_filters_and_weights_fast_equals_literal():
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 2, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * 3 * 3, 3),
    ).double()
    x = torch.randn(8, 1, 5, 5, generator=g, dtype=torch.float64)
    for setting in (
        dict(pair_layers=(0,), wide_layers=(), structured=True),
        dict(wide_layers=(1,), structured=True),
        dict(wide_layers=(1,), structured=False),
        dict(wide_layers=(1,), structured=False, mode="quant", bits=2),
    ):
        params = GreedyParams(alpha=0.6, calibration_size=None, **setting)
        fast = greedy_compress(model, x, params)
        lit = greedy_compress(model, x, dataclasses.replace(params, implementation="literal"))
        assert fast.compressed == lit.compressed
    np.testing.assert_equal(len(fast.compressed[1]), int(0.6 * 2 * 4 * 9))
