"""ONNX export checked against PyTorch under onnxruntime, on a small MLP and a small conv net."""

import numpy as np
import pytest
import torch
from torch import nn

from tomoprune.errors import ExportError
from tomoprune.export.onnx import export_onnx, onnx_outputs, verify_onnx
from tomoprune.models import build_model
from tomoprune.runs.resolve import resolve_run_config


def _model(name, **overrides):
    config = resolve_run_config("dtc", overrides={"model.name": name, **overrides})
    return build_model(config.model, (1, 28, 28), 10, torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    ("name", "overrides"),
    [("mlp", {"model.hidden": "24,12", "model.bias": "true"}), ("lenet5", {})],
)
def test_exported_model_predicts_like_pytorch_at_any_batch_size(name, overrides, tmp_path):
    model = _model(name, **overrides)
    path = export_onnx(model, torch.randn(2, 1, 28, 28), tmp_path / f"{name}.onnx")
    inputs = torch.randn(37, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    labels = torch.randint(0, 10, (37,))
    check = verify_onnx(path, model, inputs, labels, batch_size=16)  # batches of 16 and 5
    assert check.passed and check.max_abs_diff < 1e-4
    assert check.argmax_agreement == 1.0
    assert check.onnx_accuracy == check.torch_accuracy
    assert model.training  # left as it was


def test_batchnorm_is_exported_with_its_running_statistics(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten())
    model.append(nn.Linear(4 * 26 * 26, 3))
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    path = export_onnx(model, torch.randn(2, 1, 28, 28), tmp_path / "bn.onnx")
    x = torch.randn(5, 1, 28, 28)
    model.eval()
    np.testing.assert_allclose(onnx_outputs(path, x), model(x).detach().numpy(), atol=1e-5)


def test_a_model_torch_export_cannot_trace_gives_one_line(tmp_path):
    class DataDependent(nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # a Python branch on a tensor's value
                return x
            return -x

    with pytest.raises(ExportError, match="cannot export DataDependent") as info:
        export_onnx(DataDependent(), torch.randn(2, 3), tmp_path / "x.onnx")
    assert "\n" not in str(info.value)
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


def test_a_tolerance_of_zero_fails_unless_outputs_are_identical(tmp_path):
    model = _model("mlp", **{"model.hidden": "8"})
    path = export_onnx(model, torch.randn(2, 1, 28, 28), tmp_path / "m.onnx")
    inputs = torch.randn(64, 1, 28, 28)
    check = verify_onnx(path, model, inputs, tolerance=0.0)
    assert check.passed == (check.max_abs_diff == 0.0)
    assert check.max_abs_output > 0
