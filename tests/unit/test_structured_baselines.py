"""Unit-level baselines of structured pruning: which units they keep, the least-squares refit
against numpy's solver, and physical removal that leaves outputs alone when it should."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tomoprune.errors import ConfigError
from tomoprune.methods.greedy.baselines import baseline_compress
from tomoprune.methods.greedy.params import BaselineParams
from tomoprune.methods.greedy.structured_baselines import least_squares_refit


def mlp(hidden=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(5, hidden, bias=False), nn.ReLU(), nn.Linear(hidden, 3, bias=False)
    ).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    return model, torch.randn(200, 5, generator=g, dtype=torch.float64)


def cnn(width=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(width, 4, 3, padding=1, bias=False), nn.ReLU(),
        nn.Flatten(), nn.Linear(4 * 6 * 6, 3, bias=False),
    ).double()  # fmt: skip
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) / 3)
    return model, torch.randn(40, 1, 6, 6, generator=g, dtype=torch.float64)


def test_structured_magnitude_keeps_the_rows_and_columns_of_largest_norm():
    model, x = mlp()
    with torch.no_grad():
        # row norms of W1: 5, 1, 4, 2, 3, 0.5 -> keep rows 0, 2 (density 2/6)
        model[0].weight.copy_(torch.zeros(6, 5, dtype=torch.float64))
        for row, norm in enumerate([5.0, 1.0, 4.0, 2.0, 3.0, 0.5]):
            model[0].weight[row, row % 5] = norm
    pair = BaselineParams(layers=(), pair_layers=(0,), structured=True, density=2 / 6)
    out = baseline_compress(model, x, "magnitude", pair).model
    assert out[0].weight.shape == (2, 5) and out[2].weight.shape == (3, 2)
    assert torch.equal(out[0].weight, model[0].weight[[0, 2]])
    assert torch.equal(out[2].weight, model[2].weight[:, [0, 2]])
    # columns of W2: norms from the hand-set values 1, 0, 3, 2, 0.1, 6 -> keep 5, 2, 3
    with torch.no_grad():
        model[2].weight.copy_(torch.zeros(3, 6, dtype=torch.float64))
        model[2].weight[0] = torch.tensor([1.0, 0.0, 3.0, 2.0, 0.1, 6.0])
    wide = BaselineParams(layers=(1,), structured=True, density=0.5)
    out = baseline_compress(model, x, "magnitude", wide).model
    assert torch.equal(out[2].weight, model[2].weight[:, [2, 3, 5]])
    assert torch.equal(out[0].weight, model[0].weight[[2, 3, 5]])


def test_structured_wanda_keeps_the_units_of_largest_output_energy():
    model, x = mlp(hidden=8)
    h = torch.relu(model[0](x)).detach()
    w2 = model[2].weight.detach()
    # oracle: E ||W2[:, i] h_i||^2 = E[h_i^2] ||W2[:, i]||^2
    energy = h.pow(2).mean(0) * w2.pow(2).sum(0)
    expected = sorted(torch.argsort(-energy)[:3].tolist())
    out = baseline_compress(
        model,
        x,
        "wanda",
        BaselineParams(layers=(), pair_layers=(0,), structured=True, density=3 / 8),  # fmt: skip
    ).model
    assert torch.equal(out[0].weight, model[0].weight[expected])


def test_refit_without_removal_reproduces_the_dense_output_exactly():
    model, x = mlp(hidden=4)
    params = BaselineParams(layers=(1,), structured=True, density=1.0, damp=0.0)
    out = baseline_compress(model, x, "obs", params).model
    torch.testing.assert_close(out(x), model(x), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(out[2].weight, model[2].weight, rtol=1e-8, atol=1e-8)


def test_refit_weights_equal_numpy_lstsq_on_the_kept_units():
    model, x = mlp(hidden=6, seed=3)
    params = BaselineParams(layers=(1,), structured=True, density=0.5, damp=0.0)
    out = baseline_compress(model, x, "obs", params).model
    h = torch.relu(model[0](x)).detach().numpy()
    target = model(x).detach().numpy()
    energy = (h**2).mean(0) * (model[2].weight.detach().numpy() ** 2).sum(0)
    kept = np.sort(np.argsort(-energy, kind="stable")[:3])
    solution, *_ = np.linalg.lstsq(h[:, kept], target, rcond=None)
    np.testing.assert_allclose(out[2].weight.detach().numpy(), solution.T, rtol=1e-8)
    np.testing.assert_allclose(out[0].weight.detach().numpy(), model[0].weight.detach()[kept])


def test_refit_of_a_convolution_matches_lstsq_on_unfolded_patches():
    model, x = cnn(width=4)
    inputs = torch.relu(model[0](x)).detach()
    target = model[2](inputs).detach()
    columns = torch.arange(9, 27)  # channels 1 and 2 of the unfolded 4 x 3 x 3 layout
    fitted = least_squares_refit(model[2], inputs, target, columns, damp=0.0)
    patches = torch.nn.functional.unfold(inputs, 3, padding=1)  # (S, 36, 36)
    a = patches.transpose(1, 2).reshape(-1, 36)[:, 9:27].numpy()
    b = target.reshape(40, 4, -1).transpose(1, 2).reshape(-1, 4).numpy()
    solution, *_ = np.linalg.lstsq(a, b, rcond=None)
    np.testing.assert_allclose(fitted.numpy(), solution.T, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("name", ["magnitude", "wanda", "obs"])
@pytest.mark.parametrize("role", ["pair", "wide"])
def test_removing_filters_without_outgoing_weights_leaves_cnn_outputs_unchanged(name, role):
    model, x = cnn(width=5)
    with torch.no_grad():
        model[2].weight[:, [1, 3]] = 0  # K1's filters 1 and 3 feed nothing
        model[0].weight[[1, 3]] *= 1e-3  # and score lowest under every baseline
    layers = {"layers": (1,)} if role == "wide" else {"layers": (), "pair_layers": (0,)}
    params = BaselineParams(structured=True, density=3 / 5, damp=0.0, **layers)
    out = baseline_compress(model, x, name, params).model
    assert out[0].weight.shape[0] == 3 and out[2].weight.shape[1] == 3
    torch.testing.assert_close(out(x), model(x), rtol=1e-7, atol=1e-9)


def test_round_to_nearest_has_no_structured_version():
    model, x = mlp()
    with pytest.raises(ConfigError, match="rtn has no structured version") as caught:
        baseline_compress(model, x, "rtn", BaselineParams(mode="quant", structured=True))
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match="pair_layers applies to structured"):
        baseline_compress(model, x, "wanda", BaselineParams(pair_layers=(0,)))
