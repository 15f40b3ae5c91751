"""Channels-last convolution weights: same function, MLPs untouched, layout kept after pruning."""

import torch

from tomoprune.models import build_model
from tomoprune.models.layout import apply_memory_format
from tomoprune.runs.resolve import resolve_run_config
from tomoprune.structure import apply_removal, find_groups, plan_removal


def _model(name: str) -> torch.nn.Module:
    config = resolve_run_config("drr", overrides={"model.name": name})
    return build_model(config.model, (1, 28, 28), 10, torch.Generator().manual_seed(0))


def test_channels_last_lenet5_computes_the_same_outputs():
    model = _model("lenet5")
    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    expected = model(x)
    weight = model[0].weight
    apply_memory_format(model, "channels_last")
    assert model[0].weight is weight  # optimizers over the model stay valid
    assert model[2].weight.is_contiguous(memory_format=torch.channels_last)
    assert not model[2].weight.is_contiguous()
    torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


def test_models_without_convolutions_keep_their_tensors():
    model = _model("lenet300")
    before = {name: p.data_ptr() for name, p in model.named_parameters()}
    apply_memory_format(model, "channels_last")
    assert {name: p.data_ptr() for name, p in model.named_parameters()} == before


def test_pruned_conv_model_can_be_laid_out_again():
    model = apply_memory_format(_model("lenet5"), "channels_last")
    groups = find_groups(model, torch.randn(1, 1, 28, 28))
    removal = plan_removal(model, groups, {groups[0].name: range(10)})
    smaller = apply_memory_format(apply_removal(model, removal), "channels_last")
    assert smaller[2].weight.shape == (50, 10, 5, 5)
    assert smaller[2].weight.is_contiguous(memory_format=torch.channels_last)
    assert smaller(torch.randn(2, 1, 28, 28)).shape == (2, 10)
