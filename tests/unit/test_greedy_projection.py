"""The theory's output projection (``method.project_output``) against independent oracles: the
operator-norm bound, the ball's definition, nonexpansiveness, hand-computed scoring inputs, and
exact reload through every format a compressed model is stored in."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from tomoprune.accounting import count_flops
from tomoprune.errors import ConfigError
from tomoprune.export.onnx import export_onnx, onnx_outputs
from tomoprune.methods.greedy import algorithm
from tomoprune.methods.greedy.algorithm import greedy_compress, remove_dead_units
from tomoprune.methods.greedy.export import (
    load_exported,
    read_quantized_export,
    write_quantized_export,
)
from tomoprune.methods.greedy.layers import weighted_positions
from tomoprune.methods.greedy.literal import reconstruction_loss
from tomoprune.methods.greedy.params import GreedyParams
from tomoprune.methods.l0.sparse_export import read_sparse_export, write_sparse_export
from tomoprune.models.projection import BallProjection, clipped_shares
from tomoprune.models.spec import load_model, save_model


def mlp(widths, seed=0, dtype=torch.float64) -> nn.Sequential:
    """A bias-free ReLU MLP (the paper's setting), Glorot-scale weights."""
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        lin = nn.Linear(a, b, bias=False).to(dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=g, dtype=dtype) / a**0.5)
        layers.append(lin)
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def data(n, d, seed=1, dtype=torch.float64):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def radii_by_hand(model: nn.Sequential, x: torch.Tensor) -> list[float]:
    """c^l R for l = 1 .. m, from torch.linalg.matrix_norm and the inputs' largest norm."""
    weights = [m.weight.detach().double() for m in model if isinstance(m, nn.Linear)]
    c = max(float(torch.linalg.matrix_norm(w, ord=2)) for w in weights)
    r = float(x.double().norm(dim=1).max())
    return [c**depth * r for depth in range(1, len(weights) + 1)]


def projections(model: nn.Module) -> list[BallProjection]:
    return [m for m in model if isinstance(m, BallProjection)]


def test_projection_caps_the_norm_and_leaves_points_inside_the_ball_untouched():
    g = torch.Generator().manual_seed(0)
    for shape in ((200, 7), (200, 2, 3, 3)):
        y = (
            torch.randn(shape, generator=g)
            * torch.rand(shape[0], generator=g).reshape((-1,) + (1,) * (len(shape) - 1))
            * 6
        )
        y[0] = 0  # an all-zero sample stays zero (no 0/0)
        ball = BallProjection(radius=4.0)
        out = ball(y)
        norms = y.flatten(1).norm(dim=1)
        inside = norms <= 4.0
        assert 0 < int(inside.sum()) < shape[0]
        assert torch.equal(out[inside], y[inside])
        out_norms = out.flatten(1).norm(dim=1)
        assert float(out_norms.max()) <= 4.0 * (1 + 1e-6)
        # points outside land on the sphere along their own direction
        torch.testing.assert_close(out_norms[~inside], torch.full_like(out_norms[~inside], 4.0))
        torch.testing.assert_close(out[~inside], y[~inside] * (4.0 / norms[~inside]).reshape(
            (-1,) + (1,) * (len(shape) - 1)))  # fmt: skip
        assert clipped_shares(nn.Sequential(ball), y) == {"0": float((~inside).double().mean())}


def test_projection_refuses_a_radius_that_is_not_positive():
    for radius in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="radius"):
            BallProjection(radius)


def test_projections_of_the_computed_radius_leave_the_dense_network_unchanged():
    model = mlp([6, 30, 20, 3])
    x = data(64, 6)
    # alpha 0 compresses nothing: the result is the dense net with one ball per selected layer
    params = GreedyParams(alpha=0.0, wide_layers=(0, 1, 2), project_output=True)
    result = greedy_compress(model, x, params)
    assert len(projections(result.model)) == 3
    # any input inside the ball of radius R = max ||x||, including ones on its sphere
    radius = float(x.norm(dim=1).max())
    probe = data(500, 6, seed=7)
    probe = (
        probe / probe.norm(dim=1, keepdim=True) * radius * torch.rand(500, 1, dtype=torch.float64)
    )
    probe[:10] = probe[:10] / probe[:10].norm(dim=1, keepdim=True) * radius
    for inputs in (x, probe):
        assert torch.equal(result.model(inputs), model(inputs))
        assert all(share == 0.0 for share in clipped_shares(result.model, inputs).values())
    assert all(r["dense_clipped_share"] == 0.0 for r in result.layers)


def test_project_output_off_and_on_give_the_same_weights_when_the_ball_never_binds():
    model = mlp([6, 30, 20, 3])
    x = data(64, 6)
    for selection in (dict(wide_layers=(0, 1, 2)), dict(pair_layers=(0,), wide_layers=(2,))):
        params = GreedyParams(alpha=0.8, seed=5, **selection)
        off = greedy_compress(model, x, params)
        on = greedy_compress(model, x, dataclasses.replace(params, project_output=True))
        assert all(r["clipped_share"] == 0.0 for r in on.layers)
        assert off.compressed == on.compressed
        plain = [m.weight for m in off.model if isinstance(m, nn.Linear)]
        projected = [m.weight for m in on.model if isinstance(m, nn.Linear)]
        assert all(torch.equal(a, b) for a, b in zip(plain, projected, strict=True))
        by_hand = radii_by_hand(model, x)
        for record in on.layers:
            assert record["radius"] == pytest.approx(by_hand[record["layer"]], rel=1e-12)
        assert "radius" not in off.layers[0]
        # each ball sits right after its layer's activation (the last layer has none)
        positions = weighted_positions(on.model)
        for record, ball in zip(on.layers, projections(on.model), strict=True):
            at = list(on.model).index(ball)
            last = record["layer"] == 2
            assert at == positions[record["layer"]] + (1 if last else 2)
            assert ball.radius == record["radius"]


# a net and selections where the ball binds on some calibration samples
BINDING = [dict(wide_layers=(0, 2)), dict(pair_layers=(0,), wide_layers=(2,))]


@pytest.mark.parametrize("selection", BINDING)
def test_later_layers_are_scored_on_the_projected_network(selection):
    model = mlp([3, 8, 8, 2])
    x = data(64, 3)
    params = GreedyParams(
        alpha=0.8, calibration_size=None, seed=0, project_output=True, **selection
    )
    result = greedy_compress(model, x, params)
    first, second = result.layers
    assert first["clipped_share"] > 0
    # layer 2's loss before its compression, by hand: compressed W1 (the first layer), the ball,
    # dense W2, ReLU, dense W3 against the dense network's output
    w1 = [m for m in result.model if isinstance(m, nn.Linear)][0].weight.detach()
    w2, w3 = model[2].weight.detach(), model[4].weight.detach()
    h = torch.relu(x @ w1.T)
    projected = h * torch.clamp(first["radius"] / h.norm(dim=1, keepdim=True), max=1.0)
    target = model(x).detach()
    by_hand = reconstruction_loss(torch.relu(projected @ w2.T) @ w3.T, target)
    unprojected = reconstruction_loss(torch.relu(h @ w2.T) @ w3.T, target)
    assert second["loss_before"] == pytest.approx(by_hand, rel=1e-10)
    assert by_hand != pytest.approx(unprojected, rel=1e-10)


@pytest.mark.parametrize(
    "selection", [*BINDING, dict(pair_layers=(0,), wide_layers=(2,), structured=True)]
)
def test_fast_and_literal_greedy_agree_on_the_projected_network(selection):
    model = mlp([3, 8, 8, 2])
    x = data(64, 3)
    params = GreedyParams(
        alpha=0.8, calibration_size=None, seed=0, project_output=True, **selection
    )
    fast = greedy_compress(model, x, params)
    literal = greedy_compress(model, x, dataclasses.replace(params, implementation="literal"))
    assert fast.layers[0]["clipped_share"] > 0
    assert fast.compressed == literal.compressed
    for a, b in zip(fast.model.parameters(), literal.model.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert [b.radius for b in projections(fast.model)] == [
        b.radius for b in projections(literal.model)
    ]


def test_projection_brings_every_compressed_layer_output_closer_to_the_dense_one():
    model = mlp([3, 8, 8, 2])
    x = data(64, 3)
    params = GreedyParams(alpha=0.8, calibration_size=None, project_output=True, wide_layers=(0,))
    result = greedy_compress(model, x, params)
    ball = projections(result.model)[0]
    dense = torch.relu(model[0](x))
    compressed = torch.relu(result.model[0](x))
    distance_before = (compressed - dense).norm(dim=1)
    distance_after = (ball(compressed) - dense).norm(dim=1)
    moved = ball.outside(compressed)
    assert int(moved.sum()) > 0
    assert bool((distance_after <= distance_before + 1e-12).all())
    assert bool((distance_after[moved] < distance_before[moved]).all())
    assert torch.equal(distance_after[~moved], distance_before[~moved])


def test_removing_units_across_a_projection_leaves_outputs_unchanged():
    model = mlp([5, 7, 4, 3])
    model.insert(2, BallProjection(0.5))  # binds on most samples
    model.insert(5, BallProjection(0.3))
    with torch.no_grad():
        model[0].weight[3] = 0  # unit 3 emits zero: removed, the norm does not change
        model[3].weight[:, 5] = 0  # unit 5 still counts in the ball's norm: kept
        model[3].weight[1] = 0  # second layer's unit 1 emits zero: removed
    x = data(40, 5)
    assert clipped_shares(model, x)["2"] > 0.5
    smaller = remove_dead_units(model, x[:1])
    assert smaller[0].out_features == 6 and smaller[3].out_features == 3
    torch.testing.assert_close(smaller(x), model(x), rtol=1e-12, atol=1e-12)


def test_structured_greedy_removes_units_across_the_ball_exactly(monkeypatch):
    model = mlp([8, 50, 20, 3])
    x = data(64, 8)
    params = GreedyParams(structured=True, pair_layers=(0,), wide_layers=(), project_output=True)
    result = greedy_compress(model, x, params)
    assert result.model[0].out_features < 50
    assert isinstance(result.model[2], BallProjection)
    # the same draws without the physical removal (the oracle: rows zeroed, units kept)
    monkeypatch.setattr(algorithm, "remove_dead_units", lambda model, example: model)
    unremoved = greedy_compress(model, x, params).model
    assert unremoved[0].out_features == 50
    probe = torch.cat([x, 3 * data(64, 8, seed=4)])
    assert clipped_shares(unremoved, probe)["2"] > 0
    torch.testing.assert_close(result.model(probe), unremoved(probe), rtol=1e-12, atol=1e-12)


def test_project_output_refuses_convolutions_in_one_line():
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    with pytest.raises(ConfigError, match="method.project_output") as info:
        greedy_compress(
            model, torch.randn(4, 1, 6, 6), GreedyParams(wide_layers=(1,), project_output=True)
        )
    assert "\n" not in str(info.value) and "Conv2d" in str(info.value)


def float_model_and_data():
    model = mlp([12, 64, 20, 10], dtype=torch.float32)
    x = data(256, 12, dtype=torch.float32)
    return model, x


def test_projected_model_saves_reloads_and_is_accounted(tmp_path):
    model, x = float_model_and_data()
    params = GreedyParams(pair_layers=(0,), wide_layers=(2,), project_output=True)
    compressed = greedy_compress(model, x, params).model
    save_model(compressed, tmp_path / "m.safetensors", tmp_path / "m.json")
    reloaded = load_model(tmp_path / "m.safetensors", tmp_path / "m.json")
    assert [b.radius for b in projections(reloaded)] == [b.radius for b in projections(compressed)]
    probe = 3 * data(300, 12, seed=4, dtype=torch.float32)  # beyond R: the balls bind
    assert max(clipped_shares(compressed, probe).values()) > 0
    assert torch.equal(reloaded(probe), compressed(probe))
    total, per_module = count_flops(compressed, torch.zeros(1, 12))
    assert total == count_flops(model, torch.zeros(1, 12))[0] > 0
    assert set(per_module) == {"0", "3", "5"}


@pytest.mark.parametrize("mode", ["prune", "quant"])
def test_projected_model_exports_reload_to_identical_outputs(tmp_path, mode):
    model, x = float_model_and_data()
    params = GreedyParams(mode=mode, bits=3, wide_layers=(0, 2), project_output=True)
    result = greedy_compress(model, x, params)
    save_model(result.model, tmp_path / "m.safetensors", tmp_path / "m.json")
    fresh = load_model(tmp_path / "m.safetensors", tmp_path / "m.json")
    with torch.no_grad():
        for p in fresh.parameters():
            p.zero_()
    path = tmp_path / "export.safetensors"
    if mode == "quant":
        positions = weighted_positions(result.model)
        grids = {f"{positions[i]}.weight": g for i, g in result.grids.items()}
        write_quantized_export(result.model, grids, path)
        load_exported(fresh, read_quantized_export(path))
    else:
        write_sparse_export(result.model, path)
        load_exported(fresh, read_sparse_export(path))
    probe = 3 * data(300, 12, seed=4, dtype=torch.float32)
    assert torch.equal(fresh(probe), result.model(probe))


def test_projected_model_runs_under_onnxruntime_like_pytorch(tmp_path):
    model, x = float_model_and_data()
    params = GreedyParams(wide_layers=(0, 2), project_output=True)
    compressed = greedy_compress(model, x, params).model
    path = export_onnx(compressed, x[:2], tmp_path / "projected.onnx")
    probe = torch.cat([x[:50], 3 * data(50, 12, seed=4, dtype=torch.float32), torch.zeros(1, 12)])
    assert max(clipped_shares(compressed, probe).values()) > 0
    np.testing.assert_allclose(
        onnx_outputs(path, probe), compressed(probe).detach().numpy(), rtol=1e-5, atol=1e-5
    )
