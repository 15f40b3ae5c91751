"""GPTQ, SparseGPT, Wanda and RTN against the float64 oracle (the papers' equations written
plainly, ``tomoprune.posttraining.oracle``) on small layers, dead inputs included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tomoprune.posttraining import GPTQ, RTN, Magnitude, SparseGPT, Wanda, oracle
from tomoprune.posttraining.base import LayerContext, LayerProblem
from tomoprune.posttraining.masks import is_n_of_m

ROWS, COLS, SAMPLES, DEAD = 12, 32, 256, (3, 17)


def layer(dead: tuple[int, ...] = DEAD, seed: int = 0, scale: float = 1.0):
    """Gaussian weight, correlated inputs X = Z A with some input columns always zero."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(ROWS, COLS, generator=g, dtype=torch.float64)
    z = torch.randn(SAMPLES, COLS, generator=g, dtype=torch.float64)
    a = torch.eye(COLS, dtype=torch.float64) + 0.3 * torch.randn(COLS, COLS, generator=g)
    x = scale * z @ a
    x[:, list(dead)] = 0
    return w, x


def problem(w, x) -> LayerProblem:
    return LayerProblem(name="layer", weight=w, hessian=x.T @ x / x.shape[0], samples=len(x))


def run(settings, w, x):
    ctx = LayerContext(rng=np.random.default_rng(0))
    return settings.compress_layer(problem(w, x), ctx)


GPTQ_CASES = [
    {},
    {"grid": "symmetric"},
    {"grid": "span", "per_channel": False},
    {"group_size": 8},
    {"group_size": 12},  # groups that straddle the 8-column blocks
    {"act_order": True},
    {"act_order": True, "group_size": 8},
    {"act_order": True, "group_size": 8, "static_groups": True},
    {"bits": 2, "per_channel": False},
]


@pytest.mark.parametrize(
    "case", GPTQ_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default"
)
def test_gptq_codes_equal_the_oracles(case):
    w, x = layer()
    settings = GPTQ(block_size=8, precision="float64", **case)
    result = run(settings, w, x)
    h = (x.T @ x / SAMPLES).numpy()
    expected, codes = oracle.gptq(
        w.numpy(),
        h,
        settings.bits,
        kind=settings.grid,
        per_channel=settings.per_channel,
        group_size=settings.group_size,
        act_order=settings.act_order,
        static_groups=settings.static_groups,
    )
    assert np.array_equal(result.quant.codes.numpy(), codes)
    np.testing.assert_allclose(result.quant.dequantize().numpy(), expected, atol=1e-6)


def test_gptq_float32_error_is_within_one_percent_of_the_oracles():
    w, x = layer(seed=3)
    h = (x.T @ x / SAMPLES).numpy()
    ours = run(GPTQ(bits=3, group_size=16, act_order=True, block_size=8), w, x)
    expected, _ = oracle.gptq(w.numpy(), h, 3, group_size=16, act_order=True)
    ratio = oracle.relative_error(w.numpy(), ours.weight.double().numpy(), h) / (
        oracle.relative_error(w.numpy(), expected, h)
    )
    assert ratio <= 1.01


@pytest.mark.parametrize(
    "case", [{"sparsity": 0.5}, {"sparsity": 0.37}, {"nm": "2:4"}, {"nm": (4, 8)}, {"bits": 4}]
)
def test_sparsegpt_masks_and_weights_equal_the_oracles(case):
    w, x = layer()
    settings = SparseGPT(block_size=8, precision="float64", **case)
    result = run(settings, w, x)
    h = (x.T @ x / SAMPLES).numpy()
    expected, keep = oracle.sparsegpt(
        w.numpy(), h, settings.sparsity, nm=settings.nm, block_size=8, bits=settings.bits
    )
    ours = result.weight.numpy()
    dead_free = np.ones(COLS, dtype=bool)
    dead_free[list(DEAD)] = False
    assert np.array_equal(ours[:, dead_free] != 0, keep[:, dead_free])
    np.testing.assert_allclose(ours, expected, atol=1e-9)


def test_sparsegpt_keeps_exactly_the_layers_share_with_one_threshold_per_block():
    w, x = layer(dead=())
    result = run(SparseGPT(sparsity=0.37, block_size=8, precision="float64"), w, x)
    kept = result.weight != 0
    assert int(kept.sum()) == round(0.63 * ROWS * COLS)
    # one threshold over rows x block: rows differ in how many they keep
    assert len(set(kept.sum(1).tolist())) > 1


def test_dead_inputs_are_zeroed_and_take_no_mask_slot():
    w, x = layer(scale=0.01)
    result = run(SparseGPT(sparsity=0.5, block_size=8), w, x)
    assert torch.all(result.weight[:, list(DEAD)] == 0)
    live = [j for j in range(COLS) if j not in DEAD]
    # the live weights keep the layer's whole budget of kept entries
    assert int((result.weight[:, live] != 0).sum()) == round(0.5 * ROWS * COLS)
    quant = run(GPTQ(bits=4), w, x)
    assert torch.all(quant.weight[:, list(DEAD)] == 0)


@pytest.mark.parametrize("case", [{"sparsity": 0.5}, {"sparsity": 0.3}, {"nm": "2:4"}])
def test_wanda_mask_equals_the_oracles(case):
    w, x = layer()
    settings = Wanda(**case)
    result = run(settings, w, x)
    keep = oracle.wanda(w.numpy(), x.numpy(), settings.sparsity, settings.nm)
    assert np.array_equal(result.weight.numpy() != 0, keep)


@pytest.mark.parametrize(
    "case",
    [{}, {"grid": "symmetric"}, {"group_size": 8}, {"per_channel": False}, {"grid": "span"}],
)
def test_rtn_codes_equal_the_oracles(case):
    w, _ = layer()
    settings = RTN(bits=3, **case)
    result = run(settings, w, layer()[1])
    expected, codes = oracle.rtn(
        w.numpy(),
        3,
        kind=settings.grid,
        per_channel=settings.per_channel,
        group_size=settings.group_size,
    )
    assert np.array_equal(result.quant.codes.numpy(), codes)
    np.testing.assert_allclose(result.weight.numpy(), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "settings",
    [SparseGPT(nm="2:4", block_size=8), Wanda(nm="2:4"), Magnitude(nm="2:4")],
    ids=["sparsegpt", "wanda", "magnitude"],
)
def test_two_of_four_masks_have_exactly_two_zeros_in_every_group_of_four(settings):
    w, x = layer(dead=())
    zeros = (run(settings, w, x).weight == 0).reshape(ROWS, COLS // 4, 4).sum(2)
    assert torch.all(zeros == 2)
    assert is_n_of_m(run(settings, w, x).weight != 0, 2, 4)
