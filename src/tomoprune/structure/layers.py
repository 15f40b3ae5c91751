"""The one table of layer types that unit groups, surgery and model specs understand.

Each supported type has a role:

- ``weighted``: Linear and Conv layers; their output units (rows, out-channels) can be removed,
  and their input columns follow the units of the layer before;
- ``per_unit``: BatchNorm; one statistic and affine parameter per unit, removed with the unit;
- ``pass_through``: layers without per-unit tensors (activations, pooling, Flatten, Dropout,
  ``BallProjection``) that carry the units through unchanged. ``BallProjection`` couples the
  units of a sample through their joint norm, but a unit whose output is zero adds nothing to
  that norm, so removing such a unit leaves every other output unchanged.

The same table says how to describe a layer as JSON and rebuild it (``models.spec``), so any
model that prunes also checkpoints and reloads. A layer type not listed here, or a layer
holding tensors the table does not know, makes ``check_supported`` raise one line naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from tomoprune.errors import UnsupportedModelError
from tomoprune.models.projection import BallProjection

Role = Literal["weighted", "per_unit", "pass_through"]


@dataclass(frozen=True)
class LayerType:
    """How one layer type takes part in unit removal and in the JSON model spec."""

    role: Role
    describe: Callable[[nn.Module], dict[str, Any]]
    build: Callable[[dict[str, Any]], nn.Module]


def _linear(m: nn.Linear) -> dict[str, Any]:
    return {
        "in_features": m.in_features,
        "out_features": m.out_features,
        "bias": m.bias is not None,
    }


def _conv(m: nn.Conv1d | nn.Conv2d) -> dict[str, Any]:
    return {
        "in_channels": m.in_channels,
        "out_channels": m.out_channels,
        "kernel_size": list(m.kernel_size),
        "stride": list(m.stride),
        "padding": list(m.padding) if not isinstance(m.padding, str) else m.padding,
        "dilation": list(m.dilation),
        "bias": m.bias is not None,
    }


def _build_conv(cls: type) -> Callable[[dict[str, Any]], nn.Module]:
    def build(s: dict[str, Any]) -> nn.Module:
        padding = s["padding"] if isinstance(s["padding"], str) else tuple(s["padding"])
        return cls(
            s["in_channels"],
            s["out_channels"],
            tuple(s["kernel_size"]),
            stride=tuple(s["stride"]),
            padding=padding,
            dilation=tuple(s.get("dilation", [1] * len(s["kernel_size"]))),
            bias=s["bias"],
        )

    return build


def _batchnorm(m: nn.BatchNorm1d | nn.BatchNorm2d) -> dict[str, Any]:
    return {
        "num_features": m.num_features,
        "eps": m.eps,
        "momentum": m.momentum,
        "affine": m.affine,
        "track_running_stats": m.track_running_stats,
    }


def _build_batchnorm(cls: type) -> Callable[[dict[str, Any]], nn.Module]:
    def build(s: dict[str, Any]) -> nn.Module:
        return cls(
            s["num_features"],
            eps=s["eps"],
            momentum=s["momentum"],
            affine=s["affine"],
            track_running_stats=s.get("track_running_stats", True),
        )

    return build


def _pool(m: nn.MaxPool2d | nn.AvgPool2d) -> dict[str, Any]:
    return {"kernel_size": m.kernel_size, "stride": m.stride, "padding": m.padding}


def _no_arguments(cls: type) -> LayerType:
    return LayerType("pass_through", lambda m: {}, lambda s: cls())


LAYER_TYPES: dict[type, LayerType] = {
    nn.Linear: LayerType(
        "weighted",
        _linear,
        lambda s: nn.Linear(s["in_features"], s["out_features"], bias=s["bias"]),
    ),
    nn.Conv1d: LayerType("weighted", _conv, _build_conv(nn.Conv1d)),
    nn.Conv2d: LayerType("weighted", _conv, _build_conv(nn.Conv2d)),
    nn.BatchNorm1d: LayerType("per_unit", _batchnorm, _build_batchnorm(nn.BatchNorm1d)),
    nn.BatchNorm2d: LayerType("per_unit", _batchnorm, _build_batchnorm(nn.BatchNorm2d)),
    nn.MaxPool2d: LayerType(
        "pass_through",
        _pool,
        lambda s: nn.MaxPool2d(s["kernel_size"], stride=s["stride"], padding=s.get("padding", 0)),
    ),
    nn.AvgPool2d: LayerType(
        "pass_through",
        _pool,
        lambda s: nn.AvgPool2d(s["kernel_size"], stride=s["stride"], padding=s.get("padding", 0)),
    ),
    nn.AdaptiveAvgPool2d: LayerType(
        "pass_through",
        lambda m: {"output_size": m.output_size},
        lambda s: nn.AdaptiveAvgPool2d(s["output_size"]),
    ),
    nn.Flatten: LayerType(
        "pass_through",
        lambda m: {"start_dim": m.start_dim, "end_dim": m.end_dim},
        lambda s: nn.Flatten(s.get("start_dim", 1), s.get("end_dim", -1)),
    ),
    nn.Dropout: LayerType(
        "pass_through", lambda m: {"p": m.p}, lambda s: nn.Dropout(s.get("p", 0.5))
    ),
    nn.LeakyReLU: LayerType(
        "pass_through",
        lambda m: {"negative_slope": m.negative_slope},
        lambda s: nn.LeakyReLU(s.get("negative_slope", 0.01)),
    ),
    nn.ReLU: _no_arguments(nn.ReLU),
    nn.GELU: _no_arguments(nn.GELU),
    nn.ELU: _no_arguments(nn.ELU),
    nn.Tanh: _no_arguments(nn.Tanh),
    nn.Sigmoid: _no_arguments(nn.Sigmoid),
    nn.Identity: _no_arguments(nn.Identity),
    BallProjection: LayerType(
        "pass_through",
        lambda m: {"radius": m.radius},
        lambda s: BallProjection(s["radius"]),
    ),
}

WEIGHTED = tuple(t for t, spec in LAYER_TYPES.items() if spec.role == "weighted")
PER_UNIT = tuple(t for t, spec in LAYER_TYPES.items() if spec.role == "per_unit")


def layer_type(module: nn.Module) -> LayerType | None:
    """The table entry of ``module``'s exact type (subclasses are not assumed to behave)."""
    return LAYER_TYPES.get(type(module))


def _fix(name: str) -> str:
    return f"exclude it with ignored_layers=[model.{name}]" if name else "use a supported layer"


def check_supported(model: nn.Module, ignored: Iterable[nn.Module] = ()) -> None:
    """Raise ``UnsupportedModelError`` for the first layer unit groups cannot handle.

    Containers (modules with children and no tensors of their own) are traced through. A leaf
    module of a type outside ``LAYER_TYPES`` is accepted only when it holds no parameters or
    buffers (its operations are then traced like functional code); grouped convolutions are
    refused. Modules in ``ignored`` and everything inside them are skipped.
    """
    skipped = {id(m) for root in ignored for m in root.modules()}
    for name, module in model.named_modules():
        if id(module) in skipped:
            continue
        own = list(module.named_parameters(recurse=False)) + list(
            module.named_buffers(recurse=False)
        )
        spec = layer_type(module)
        if spec is None and own:
            kind = type(module).__name__
            raise UnsupportedModelError(
                f"layer '{name or '<model>'}' ({kind}) holds tensors unit groups cannot slice; "
                f"{_fix(name)}."
            )
        if isinstance(module, (nn.Conv1d, nn.Conv2d)) and module.groups != 1:
            raise UnsupportedModelError(
                f"layer '{name}' is a grouped convolution (groups={module.groups}), which unit "
                f"groups do not support; {_fix(name)}."
            )


def sync_shape_attributes(module: nn.Module) -> None:
    """Make a sliced layer's size attributes agree with its tensors."""
    if isinstance(module, nn.Linear):
        module.out_features, module.in_features = module.weight.shape
    elif isinstance(module, (nn.Conv1d, nn.Conv2d)):
        module.out_channels = module.weight.shape[0]
        module.in_channels = module.weight.shape[1] * module.groups
    elif isinstance(module, PER_UNIT):
        tensor = module.weight if module.affine else module.running_mean
        if tensor is not None:
            module.num_features = tensor.shape[0]
