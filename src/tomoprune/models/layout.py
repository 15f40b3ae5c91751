"""Memory layout of convolution weights: channels-last where it makes training faster.

On CPU, PyTorch's oneDNN convolutions run in NHWC ("channels last"); given NCHW weights each
convolution converts its operands to NHWC and back, forward and backward. Storing the weights
channels-last once removes those conversions: a LeNet-5 (Caffe) training step at batch 500
takes about half the time on this project's 2-core CPU (``benchmarks/bench_lenet5_step.py``).
The convolutions then pick the channels-last kernels whatever the input's layout, and a
one-channel image is the same in both layouts, so batches need no conversion.

Only 4-D tensors change layout, so models without convolutions (the MLPs, LeNet-300-100) are
untouched and their numbers stay bit-identical. For conv nets the summation order inside the
kernels differs, so results differ from the NCHW layout in the last bits.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

MemoryFormat = Literal["channels_last", "contiguous"]

_FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}


def has_convolutions(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def apply_memory_format(model: nn.Module, memory_format: MemoryFormat) -> nn.Module:
    """Store ``model``'s 4-D parameters and buffers in ``memory_format`` (in place).

    Parameter objects keep their identity (``nn.Module.to`` swaps their data), so an optimizer
    built over the model stays valid. A model without Conv2d layers is returned unchanged.
    """
    if memory_format not in _FORMATS:
        raise ValueError(
            f"memory_format must be one of {', '.join(_FORMATS)}, got {memory_format!r}"
        )
    if not has_convolutions(model):
        return model
    return model.to(memory_format=_FORMATS[memory_format])
