"""Unstructured greedy compression of convolution pairs: the batched scorer against the literal
algorithm (one pair of forward passes per candidate), which serves as the oracle."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from tomoprune.errors import ConfigError
from tomoprune.methods.greedy.algorithm import greedy_compress
from tomoprune.methods.greedy.candidates import make_candidates
from tomoprune.methods.greedy.conv_pairs import ConvPairScorer, conv_pair_weights
from tomoprune.methods.greedy.literal import reconstruction_loss
from tomoprune.methods.greedy.params import GreedyParams
from tomoprune.posttraining.replacement import UniformGrid

# each: the modules of a small float64 network whose weighted layer 0 is compressed as a pair
STRUCTURES = {
    "conv-relu-conv, padding 1": lambda: [
        nn.Conv2d(2, 3, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(3, 4, 3, padding=1),
    ],
    "conv-relu-conv, padding 0": lambda: [
        nn.Conv2d(2, 3, 3, padding=0, stride=1),
        nn.ReLU(),
        nn.Conv2d(3, 4, 3, padding=1),
    ],
    "conv-tanh-conv, stride 2, no bias": lambda: [
        nn.Conv2d(2, 3, 3, padding=1, stride=2, bias=False),
        nn.Tanh(),
        nn.Conv2d(3, 4, 2, dilation=1),
    ],
    "conv-gelu-conv, dilation 2, next stride 2": lambda: [
        nn.Conv2d(2, 3, 2, padding=2, dilation=2),
        nn.GELU(),
        nn.Conv2d(3, 4, 3, padding=1, stride=2, dilation=2),
    ],
    "conv-relu-avgpool-conv": lambda: [
        nn.Conv2d(2, 3, 3, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Conv2d(3, 4, 2),
    ],
    "conv-relu-flatten-linear": lambda: [
        nn.Conv2d(2, 3, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(3 * 5 * 5, 4),
    ],
    "conv-relu-maxpool-flatten-linear": lambda: [
        nn.Conv2d(2, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3 * 2 * 2, 4),
    ],
}


def network(name: str, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    model = nn.Sequential(*STRUCTURES[name]()).double().eval()
    with torch.no_grad():
        first = model[0]
        if first.bias is not None:  # a clearly non-zero bias: it enters the pre-activation
            first.bias.copy_(0.3 * torch.randn(first.bias.shape, dtype=torch.float64))
    return model


def inputs(samples: int = 16, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(samples, 2, 5, 5, generator=gen, dtype=torch.float64)


def candidates_of(layer: nn.Module, mode: str):
    grid = UniformGrid.symmetric(float(layer.weight.detach().abs().max()), 2)
    return make_candidates(layer, kind="weight", mode=mode, p=0.3, grid=grid)


def params(mode: str, **changes) -> GreedyParams:
    base = GreedyParams(
        mode=mode, bits=2, alpha=0.8, p=0.3, wide_layers=(), pair_layers=(0,),
        calibration_size=None, seed=3,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)


# memory budgets: cached changes and Gram matrices, or neither; whole channels per block, or
# one kernel position
BUDGETS = {
    "cached": {},
    "uncached": dict(cache_elements=0),
    "cached, one position per block": dict(chunk_elements=1),
    "uncached, one position per block": dict(cache_elements=0, chunk_elements=1),
}


@pytest.mark.parametrize("budget", list(BUDGETS))
@pytest.mark.parametrize("mode", ["prune", "quant"])
@pytest.mark.parametrize("name", list(STRUCTURES))
@torch.no_grad()
def test_expected_loss_change_of_every_candidate_equals_the_literal_evaluation(name, mode, budget):
    model = network(name)
    x = inputs()
    target = model(x)
    work = network(name)
    # the run's first step (zero residual), then a partly compressed starting point
    for zeroed in (None, slice(None, None, 4)):
        if zeroed is not None:
            work[0].weight.view(-1)[zeroed] = 0
        cands = candidates_of(work[0], mode)
        scorer = ConvPairScorer(work[0], work[1:-1], work[-1], x, target, cands, **BUDGETS[budget])
        fast = scorer.expected_changes(torch.arange(cands.count))
        law = cands.replacement
        before = reconstruction_loss(work(x), target)
        original = cands.original_weight.reshape(-1)
        for index in range(cands.count):
            expected = 0.0
            for value, prob in (
                (law.low[index], 1 - law.prob_high[index]),
                (law.high[index], law.prob_high[index]),
            ):
                cands.set(index, float(value))
                expected += float(prob) * reconstruction_loss(work(x), target)
            cands.set(index, float(original[index]))
            assert float(fast[index]) == pytest.approx(expected - before, abs=1e-10, rel=0)


@pytest.mark.parametrize("mode", ["prune", "quant"])
@pytest.mark.parametrize("name", list(STRUCTURES))
def test_fast_conv_pair_chooses_the_literal_weights_in_the_literal_order(name, mode):
    model = network(name)
    x = inputs()
    fast = greedy_compress(model, x, params(mode))
    literal = greedy_compress(model, x, params(mode, implementation="literal"))
    assert fast.layers[0]["scoring"] == "batched, rescored every step"
    assert fast.compressed == literal.compressed
    for a, b in zip(fast.model.parameters(), literal.model.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["conv-relu-conv, padding 1", "conv-relu-flatten-linear"])
def test_memory_budgets_do_not_change_the_choice(name):
    model = network(name)
    x = inputs()
    target = model(x)
    runs = []
    for budget in BUDGETS.values():
        work = network(name)
        cands = candidates_of(work[0], "prune")
        chosen = conv_pair_weights(
            work[0], work[1:-1], work[-1], x, target, cands, 0.8, np.random.default_rng(3),
            **budget,
        )  # fmt: skip
        runs.append((chosen, work[0].weight.detach().clone()))
    for chosen, weight in runs[1:]:
        assert chosen == runs[0][0]
        assert torch.equal(weight, runs[0][1])


@pytest.mark.parametrize("name", ["conv-relu-conv, padding 1", "conv-relu-flatten-linear"])
def test_alpha_zero_leaves_a_conv_pair_unchanged(name):
    model = network(name)
    for mode in ("prune", "quant"):
        result = greedy_compress(model, inputs(), params(mode, alpha=0.0))
        assert result.compressed[0] == []
        for a, b in zip(result.model.parameters(), model.parameters(), strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize("mode", ["prune", "quant"])
def test_rescoring_rounds_compress_each_chosen_weight_once_with_a_draw_of_its_law(mode):
    model = network("conv-relu-conv, padding 1")
    result = greedy_compress(model, inputs(), params(mode, rescore_rounds=3, alpha=0.7))
    count = model[0].weight.numel()
    chosen = result.compressed[0]
    assert len(chosen) == math.floor(0.7 * count) == len(set(chosen))
    assert result.layers[0]["scoring"] == "batched, 3 rescoring rounds"
    law = candidates_of(model[0], mode).replacement
    before = model[0].weight.detach().reshape(-1)
    after = result.model[0].weight.detach().reshape(-1)
    index = torch.tensor(chosen)
    drawn = after[index]
    assert bool(((drawn == law.low[index]) | (drawn == law.high[index])).all())
    untouched = torch.ones(count, dtype=torch.bool)
    untouched[index] = False
    assert torch.equal(after[untouched], before[untouched])
    # the bias and the next layer are never changed
    assert torch.equal(result.model[0].bias, model[0].bias)
    assert torch.equal(result.model[2].weight, model[2].weight)


@pytest.mark.parametrize(
    ("modules", "named"),
    [
        (lambda: [nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Conv2d(3, 4, 3)],
         "BatchNorm2d"),
        (lambda: [nn.Conv2d(2, 4, 3, groups=2), nn.ReLU(), nn.Conv2d(4, 4, 1)], "groups=2"),
        (lambda: [nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 1, groups=4)], "groups=4"),
    ],
)  # fmt: skip
def test_unsupported_conv_pairs_fail_in_one_line_naming_the_literal_way_out(modules, named):
    model = nn.Sequential(*modules()).double().eval()
    with pytest.raises(ConfigError, match="method.implementation=literal") as info:
        greedy_compress(model, inputs(4), params("prune"))
    assert named in str(info.value)
    assert "\n" not in str(info.value)
