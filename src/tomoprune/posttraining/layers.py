"""The layers a post-training compressor can rewrite, seen as one matrix times input columns.

- ``nn.Linear``: W (out, in) times x (..., in); any leading dimensions (batch, tokens) are
  samples.
- Hugging Face ``Conv1D`` (GPT-2's projections): y = x W + b with W (in, out), so the matrix is
  W^T.
- ``nn.Conv1d`` / ``nn.Conv2d`` (groups=1, zero padding): W (out, in * kernel) times the
  unfolded input patches; every output position of every sample is a sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tomoprune.errors import ConfigError

LAYER_KINDS = "Linear, Conv1d, Conv2d, transformers Conv1D"


def is_compressible(module: nn.Module) -> bool:
    if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
        return True
    return _is_hf_conv1d(module)


def _is_hf_conv1d(module: nn.Module) -> bool:
    weight = getattr(module, "weight", None)
    return (
        type(module).__name__ == "Conv1D" and isinstance(weight, torch.Tensor) and weight.dim() == 2
    )


def check_layer(name: str, module: nn.Module) -> None:
    """One-line ConfigError for convolutions the unfolded-matrix view does not cover."""
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        if module.groups != 1:
            raise ConfigError(
                f"layer {name}: grouped convolutions (groups={module.groups}) are not supported "
                "by post-training compression; leave it out of the layer patterns."
            )
        if isinstance(module.padding, str) or module.padding_mode != "zeros":
            raise ConfigError(
                f"layer {name}: only explicit zero padding is supported (padding="
                f"{module.padding!r}, padding_mode={module.padding_mode!r})."
            )


def weight_matrix(module: nn.Module) -> torch.Tensor:
    """The weight as (rows = outputs, columns = inputs), a detached copy."""
    w = module.weight.detach()
    if _is_hf_conv1d(module):
        return w.T.clone()
    return w.reshape(w.shape[0], -1).clone()


@torch.no_grad()
def set_weight_matrix(module: nn.Module, matrix: torch.Tensor) -> None:
    w = module.weight
    if _is_hf_conv1d(module):
        w.copy_(matrix.T.to(w.dtype))
    else:
        w.copy_(matrix.reshape(w.shape).to(w.dtype))


def input_columns(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The layer's input as (samples, columns): the vectors the weight matrix multiplies."""
    if isinstance(module, nn.Conv2d):
        patches = F.unfold(
            x,
            module.kernel_size,
            dilation=module.dilation,
            padding=module.padding,
            stride=module.stride,
        )  # (N, C*kh*kw, L)
        return patches.transpose(1, 2).reshape(-1, patches.shape[1])
    if isinstance(module, nn.Conv1d):
        if x.dim() == 2:  # unbatched (C, L)
            x = x.unsqueeze(0)
        patches = F.unfold(
            x.unsqueeze(2),
            (1, module.kernel_size[0]),
            dilation=(1, module.dilation[0]),
            padding=(0, module.padding[0]),
            stride=(1, module.stride[0]),
        )  # (N, C*k, L)
        return patches.transpose(1, 2).reshape(-1, patches.shape[1])
    return x.reshape(-1, x.shape[-1])
