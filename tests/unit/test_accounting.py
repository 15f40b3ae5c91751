"""Parameters, FLOPs and latency of a model, checked against hand-computed counts."""

import pytest
import torch
from torch import nn

from tomoprune.accounting import (
    account,
    count_flops,
    count_parameters,
    flops_per_sample,
    measure_latency,
    summary_columns,
)
from tomoprune.models import build_model
from tomoprune.runs.resolve import resolve_run_config


def test_linear_flops_are_two_m_n_k():
    m, k, n = 7, 30, 11
    total, per_module = count_flops(nn.Sequential(nn.Linear(k, n)), torch.zeros(m, k))
    assert total == 2 * m * n * k
    assert per_module == {"0": 2 * m * n * k}


def test_conv_flops_are_two_times_outputs_times_receptive_field():
    conv = nn.Conv2d(3, 8, kernel_size=(3, 5), stride=2, padding=1)
    x = torch.zeros(4, 3, 17, 21)
    h_out = (17 + 2 - 3) // 2 + 1
    w_out = (21 + 2 - 5) // 2 + 1
    expected = 2 * 4 * 8 * h_out * w_out * 3 * 3 * 5
    assert count_flops(conv, x) == (expected, {"": expected})


def test_lenet5_flops_per_sample_match_its_layers_by_hand():
    config = resolve_run_config("drr", overrides={"model.name": "lenet5"})
    model = build_model(config.model, (1, 28, 28), 10, torch.Generator().manual_seed(0))
    conv1 = 2 * 20 * 24 * 24 * 1 * 25
    conv2 = 2 * 50 * 8 * 8 * 20 * 25
    fc1, fc2 = 2 * 800 * 500, 2 * 500 * 10
    assert flops_per_sample(model, (1, 28, 28)) == conv1 + conv2 + fc1 + fc2
    _, per_module = count_flops(model, torch.zeros(1, 1, 28, 28))
    assert per_module == {"0": conv1, "2": conv2, "5": fc1, "7": fc2}


def test_parameters_count_all_and_nonzero_entries_per_module():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        model[0].weight[0].zero_()
    total, nonzero, per_module = count_parameters(model)
    assert total == 4 * 3 + 3 + 3 * 2
    assert nonzero == total - 4 - int((model[0].bias == 0).sum()) - int(
        (model[2].weight == 0).sum()
    )
    assert per_module == {"0": 15, "2": 6}


def test_latency_medians_are_positive_and_threads_are_restored():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3)).train()
    before = torch.get_num_threads()
    totals, modules, settings = measure_latency(model, (1, 4, 4), repeats=3, warmup=1, threads=1)
    assert set(totals) == {"1", "256"} and all(v > 0 for v in totals.values())
    assert set(modules["256"]) == {"0", "1", "2", "3"}
    assert all(v > 0 for v in modules["1"].values())
    assert settings["torch_threads"] == 1 and settings["statistic"] == "median"
    assert torch.get_num_threads() == before
    assert model.training  # measured in eval mode, left as it was


def test_summary_columns_pair_before_and_after():
    big = account(nn.Sequential(nn.Linear(10, 6), nn.Linear(6, 2)), (10,), repeats=1, warmup=0)
    small = account(nn.Sequential(nn.Linear(10, 3), nn.Linear(3, 2)), (10,), repeats=1, warmup=0)
    columns = summary_columns(big, small)
    assert (columns["parameters_before"], columns["parameters_after"]) == (80, 41)
    assert (columns["flops_before"], columns["flops_after"]) == (2 * (60 + 12), 2 * (30 + 6))
    assert columns["latency_b256_after_s"] > 0


def test_bad_repeat_counts_are_rejected():
    with pytest.raises(ValueError, match="repeats"):
        measure_latency(nn.Linear(2, 2), (2,), repeats=0)
