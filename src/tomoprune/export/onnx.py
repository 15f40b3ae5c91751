"""ONNX export of a (compressed) model, verified against PyTorch with onnxruntime.

Exporter: ``torch.onnx.export(..., dynamo=True)``, the ``torch.export``-based exporter that
translates the captured graph with ``onnxscript`` (both installed). It is the supported path in
torch 2.13: the TorchScript-based exporter (``dynamo=False``) still works on these models but
warns that it is deprecated and will be removed. The dynamo exporter takes a few seconds per
model on a CPU (tracing plus onnxscript's graph optimisation), which an export can afford.
The batch dimension is exported as dynamic, so the file takes any batch size.

The model is exported in eval mode (BatchNorm uses its running statistics, as in inference).
``verify_onnx`` runs the file under onnxruntime's CPU provider on real inputs and compares with
PyTorch's outputs on the same inputs: the largest absolute difference of the outputs, and the
share of samples whose predicted class (argmax) agrees. Float32 kernels sum in different orders,
so the outputs agree to ~1e-6 of their scale, not bit for bit; ``passed`` means
``max_abs_diff <= tolerance * max(1, largest |output|)`` (a relative bound for large logits).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tomoprune.errors import ExportError

OPSET = 18
INPUT_NAME = "input"
OUTPUT_NAME = "output"
DEFAULT_TOLERANCE = 1e-4
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class OnnxCheck:
    """How the ONNX file's outputs compare with PyTorch's on the same inputs."""

    samples: int
    max_abs_diff: float
    max_abs_output: float  # the scale of PyTorch's outputs
    argmax_agreement: float  # share of samples with the same predicted class
    tolerance: float
    passed: bool  # max_abs_diff <= tolerance * max(1, max_abs_output)
    torch_accuracy: float | None = None  # on the labels, when given
    onnx_accuracy: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _device(model: nn.Module) -> torch.device:
    reference = next(model.parameters(), None)
    return torch.device("cpu") if reference is None else reference.device


@contextmanager
def _quiet_exporter():
    """Silence the exporter's notes (e.g. that torchvision's ops are not installed)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    sink = io.StringIO()  # progress lines and, on failure, graph dumps
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
            warnings.simplefilter("ignore")
            with contextlib.redirect_stderr(sink):
                yield
    finally:
        logger.setLevel(level)


def export_onnx(
    model: nn.Module, example: torch.Tensor, path: str | os.PathLike[str], *, opset: int = OPSET
) -> Path:
    """Write ``model`` as an ONNX file at ``path`` (atomically) with a dynamic batch dimension.

    ``example`` is one input batch (its batch size does not matter; two or more samples keep
    the exporter from specialising the batch dimension).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    example = example.detach().to(_device(model))
    if example.shape[0] < 2:
        example = example.expand(2, *example.shape[1:]).contiguous()
    handle, temporary = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        with _quiet_exporter():
            torch.onnx.export(
                model,
                (example,),
                temporary,
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                opset_version=opset,
                external_data=False,
                verbose=False,
            )
        os.replace(temporary, path)
    except Exception as exc:  # the exporter raises many types for an untraceable model
        first_line = _ANSI.sub("", str(exc)).strip().splitlines()[0] if str(exc).strip() else ""
        raise ExportError(
            f"cannot export {type(model).__name__} to ONNX ({type(exc).__name__}: "
            f"{first_line or 'no message'}); the model's forward must be traceable by "
            "torch.export (no Python branches on tensor values)"
        ) from None
    finally:
        model.train(was_training)
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def onnx_outputs(
    path: str | os.PathLike[str], inputs: torch.Tensor, batch_size: int = 256
) -> np.ndarray:
    """The ONNX file's outputs for ``inputs`` under onnxruntime (CPU), in batches."""
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types for a bad file
        raise ExportError(f"{path}: onnxruntime cannot load the file ({exc}).") from None
    name = session.get_inputs()[0].name
    array = inputs.detach().cpu().numpy().astype(np.float32)
    parts = [
        session.run(None, {name: array[start : start + batch_size]})[0]
        for start in range(0, len(array), batch_size)
    ]
    return np.concatenate(parts)


def verify_onnx(
    path: str | os.PathLike[str],
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    batch_size: int = 256,
) -> OnnxCheck:
    """Compare the ONNX file with ``model`` (eval mode) on ``inputs`` (and ``labels``)."""
    if len(inputs) == 0:
        raise ExportError("verification needs at least one input sample.")
    was_training = model.training
    model.eval()
    device = _device(model)
    with torch.inference_mode():
        expected = torch.cat(
            [
                model(inputs[start : start + batch_size].to(device)).cpu()
                for start in range(0, len(inputs), batch_size)
            ]
        ).numpy()
    model.train(was_training)
    got = onnx_outputs(path, inputs, batch_size)
    if got.shape != expected.shape:
        raise ExportError(
            f"{path}: ONNX output shape {got.shape} differs from PyTorch's {expected.shape}."
        )
    diff = float(np.max(np.abs(got - expected)))
    scale = float(np.max(np.abs(expected)))
    torch_classes, onnx_classes = expected.argmax(axis=1), got.argmax(axis=1)
    torch_accuracy = onnx_accuracy = None
    if labels is not None:
        truth = labels.detach().cpu().numpy()
        torch_accuracy = float(np.mean(torch_classes == truth))
        onnx_accuracy = float(np.mean(onnx_classes == truth))
    return OnnxCheck(
        samples=len(inputs),
        max_abs_diff=diff,
        max_abs_output=scale,
        argmax_agreement=float(np.mean(torch_classes == onnx_classes)),
        tolerance=tolerance,
        passed=diff <= tolerance * max(1.0, scale),
        torch_accuracy=torch_accuracy,
        onnx_accuracy=onnx_accuracy,
    )
