"""Baselines at the same density or bit width, and the exports' exact reload."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from torch import nn

from tomoprune.methods.greedy.algorithm import greedy_compress
from tomoprune.methods.greedy.baselines import baseline_compress
from tomoprune.methods.greedy.export import (
    load_exported,
    pack_codes,
    read_quantized_export,
    unpack_codes,
    write_quantized_export,
)
from tomoprune.methods.greedy.params import BaselineParams, GreedyParams
from tomoprune.methods.l0.sparse_export import read_sparse_export, write_sparse_export


def model_and_data(hidden=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(12, hidden, bias=False), nn.ReLU(), nn.Linear(hidden, 10))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5)
    # correlated inputs, where the Hessian matters
    x = torch.randn(512, 12, generator=g) @ torch.randn(12, 12, generator=g)
    return model, x


@torch.no_grad()
def layer_error(model, compressed, x):
    h = torch.relu(model[0](x))
    return float((model[2](h) - compressed[2](h)).pow(2).sum(1).mean())


@pytest.mark.parametrize("scope", ["per_layer", "global"])
def test_magnitude_keeps_the_density_share_of_largest_weights(scope):
    model, x = model_and_data()
    out = baseline_compress(
        model, x, "magnitude", BaselineParams(layers=(0, 1), density=0.25, scope=scope)
    ).model
    kept = [int((out[i].weight != 0).sum()) for i in (0, 2)]
    total = [model[i].weight.numel() for i in (0, 2)]
    if scope == "per_layer":
        assert kept == [round(0.25 * t) for t in total]
        w = model[2].weight.detach().abs()
        kept_mask = out[2].weight.detach() != 0
        assert float(w[~kept_mask].max()) <= float(w[kept_mask].min())
    else:
        assert sum(kept) == round(0.25 * sum(total))


def test_wanda_keeps_largest_weight_times_input_norm_in_each_row():
    model, x = model_and_data()
    out = baseline_compress(model, x, "wanda", BaselineParams(layers=(1,), density=0.5)).model
    h = torch.relu(model[0](x)).double().detach()
    score = (model[2].weight.detach().double().abs() * h.pow(2).sum(0).sqrt()).detach()
    for row in range(10):
        kept = out[2].weight[row] != 0
        assert int(kept.sum()) == 32
        assert float(score[row][~kept].max()) <= float(score[row][kept].min())


def test_sparsegpt_beats_magnitude_and_gptq_beats_rounding_on_layer_output():
    model, x = model_and_data()
    prune = BaselineParams(layers=(1,), density=0.37)
    quant = BaselineParams(layers=(1,), mode="quant", bits=3)
    obs_pruned = baseline_compress(model, x, "obs", prune).model
    mag_pruned = baseline_compress(model, x, "magnitude", prune).model
    # SparseGPT's one threshold per rows x 128-column block: the layer keeps round(0.37 * numel)
    assert int((obs_pruned[2].weight != 0).sum()) == round(0.37 * 640)
    assert layer_error(model, obs_pruned, x) < 0.8 * layer_error(model, mag_pruned, x)
    gptq = baseline_compress(model, x, "obs", quant)
    rtn = baseline_compress(model, x, "rtn", quant)
    grid = gptq.grids[1]
    codes = (gptq.model[2].weight.double() - grid.offset) / grid.scale
    torch.testing.assert_close(codes, codes.round(), atol=1e-5, rtol=0)
    assert layer_error(model, gptq.model, x) < layer_error(model, rtn.model, x)


def test_obs_at_full_density_changes_nothing():
    model, x = model_and_data()
    out = baseline_compress(model, x, "obs", BaselineParams(layers=(1,), density=1.0)).model
    torch.testing.assert_close(out[2].weight, model[2].weight)


@pytest.mark.parametrize("bits", [1, 2, 3, 5, 8, 11])
def test_code_packing_round_trips(bits):
    codes = np.random.default_rng(bits).integers(0, 2**bits, size=101)
    packed = pack_codes(codes, bits)
    assert packed.nbytes == -(-101 * bits // 8)
    np.testing.assert_array_equal(unpack_codes(packed, bits, 101), codes)


@pytest.mark.parametrize("method", ["greedy", "greedy-0.99", "rtn", "obs"])
def test_quantized_export_reloads_to_identical_outputs(tmp_path, method):
    model, x = model_and_data()
    if method.startswith("greedy"):
        # alpha 0.9 leaves many full-precision entries (stored by bitmask), 0.99 few (by index)
        alpha = 0.99 if method.endswith("0.99") else 0.9
        params = GreedyParams(mode="quant", bits=3, wide_layers=(0, 1), alpha=alpha)
        result = greedy_compress(model, x, params)
    else:
        result = baseline_compress(
            model, x, method, BaselineParams(mode="quant", layers=(1,), bits=3)
        )
    grids = {f"{2 * i}.weight": g for i, g in result.grids.items()}
    size = write_quantized_export(result.model, grids, tmp_path / "q.safetensors")
    dense_bytes = 4 * sum(p.numel() for p in model.parameters())
    assert size < dense_bytes
    fresh = nn.Sequential(nn.Linear(12, 64, bias=False), nn.ReLU(), nn.Linear(64, 10))
    keys = set(load_file(str(tmp_path / "q.safetensors")))
    if method == "greedy":
        assert "0.weight.exception_mask" in keys
    if method == "greedy-0.99":
        assert "0.weight.exception_index" in keys
    load_exported(fresh, read_quantized_export(tmp_path / "q.safetensors"))
    assert torch.equal(fresh(x), result.model(x))


def test_sparse_export_of_greedy_pruned_model_reloads_to_identical_outputs(tmp_path):
    model, x = model_and_data(hidden=200)
    pruned = greedy_compress(model, x, GreedyParams(wide_layers=(1,), pair_layers=())).model
    write_sparse_export(pruned, tmp_path / "s.safetensors")
    fresh = nn.Sequential(nn.Linear(12, 200, bias=False), nn.ReLU(), nn.Linear(200, 10))
    load_exported(fresh, read_sparse_export(tmp_path / "s.safetensors"))
    assert torch.equal(fresh(x), pruned(x))
