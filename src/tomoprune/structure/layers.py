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

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from tomoprune.errors import UnsupportedModelError
from tomoprune.structure.projection import BallProjection

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


# --------------------------------------------------------------------------------------------
# Slicing rules: how the channels of each layer type map onto its tensors.
#
# A unit group couples the channels of many layers (Torch-Pruning's dependency graph says which
# channel of which layer goes with which unit). For each layer, its rule lists the tensor slices
# that carry one channel: on the layer's *output* side (the rows it computes, its per-channel
# state) and on its *input* side (the columns that read the channel). The same rule says how a
# layer's size attributes follow its sliced tensors, and whether its channels are coupled across
# equal blocks (a grouped convolution's groups, GroupNorm's groups, the heads of
# ``nn.MultiheadAttention``), in which case one unit is one channel slot of every block.
# --------------------------------------------------------------------------------------------

SliceRole = Literal["producer", "state", "consumer"]


@dataclass(frozen=True)
class TensorSlice:
    """One tensor of a layer that holds a channel.

    ``tensor`` is the attribute path under the layer (``"weight"``, ``"out_proj.weight"``);
    the channel lies at index ``c`` along ``dim``, repeated ``copies`` times at a stride of the
    layer's channel count (the four gates of an LSTM, the q/k/v thirds of an in-projection).
    ``fold`` takes the channel index modulo the dimension's size (a grouped convolution's
    weight holds only one group's input channels).
    """

    tensor: str
    dim: int
    role: SliceRole
    copies: int = 1
    fold: bool = False


@dataclass(frozen=True)
class SlicingRule:
    """How one layer type takes part in unit groups (see the section comment above)."""

    kind: str
    out: Callable[[nn.Module], tuple[TensorSlice, ...]]
    inputs: Callable[[nn.Module], tuple[TensorSlice, ...]]
    channels: Callable[[nn.Module], int]  # the channel count ``copies`` strides over
    sync: Callable[[nn.Module], None]
    channel_groups: Callable[[nn.Module], int] = lambda m: 1
    coupled: bool = False  # its input channels are its output channels (norms, depthwise)


def _with_bias(m: nn.Module, dim: int = 0) -> tuple[TensorSlice, ...]:
    return (TensorSlice("bias", dim, "state"),) if getattr(m, "bias", None) is not None else ()


def _present(m: nn.Module, names: Iterable[str], role: SliceRole = "state", copies: int = 1):
    return tuple(TensorSlice(n, 0, role, copies) for n in names if getattr(m, n, None) is not None)


def _sync_linear(m: nn.Module) -> None:
    m.out_features, m.in_features = m.weight.shape


def _sync_conv(m: nn.Module) -> None:
    if is_depthwise(m):
        m.in_channels = m.groups = m.weight.shape[0]
    else:
        m.in_channels = m.weight.shape[1] * m.groups
    m.out_channels = m.weight.shape[0]


def is_depthwise(m: nn.Module) -> bool:
    """A convolution whose every channel is its own group (in = out = groups > 1)."""
    return (
        isinstance(m, _CONV)
        and m.groups > 1
        and m.groups == m.out_channels
        and m.in_channels == m.out_channels
    )


def _sync_norm(attr: str) -> Callable[[nn.Module], None]:
    def sync(m: nn.Module) -> None:
        tensor = getattr(m, "weight", None)
        if tensor is None:
            tensor = getattr(m, "running_mean", None)
        if tensor is not None:
            setattr(m, attr, tensor.shape[0])

    return sync


def _sync_shape_tuple(m: nn.Module) -> None:
    if getattr(m, "weight", None) is not None:
        m.normalized_shape = (m.weight.shape[0],)


def _sync_embedding(m: nn.Module) -> None:
    m.embedding_dim = m.weight.shape[1]


def _sync_recurrent(m: nn.Module) -> None:
    m.hidden_size = m.weight_hh_l0.shape[1]
    m.input_size = m.weight_ih_l0.shape[1]


def _recurrent_out(gates: int) -> Callable[[nn.Module], tuple[TensorSlice, ...]]:
    def out(m: nn.Module) -> tuple[TensorSlice, ...]:
        slices = [
            TensorSlice("weight_ih_l0", 0, "producer", gates),
            TensorSlice("weight_hh_l0", 0, "state", gates),
            TensorSlice("weight_hh_l0", 1, "state"),
        ]
        return tuple(slices) + _present(m, ("bias_ih_l0", "bias_hh_l0"), copies=gates)

    return out


def _sync_mha(m: nn.Module) -> None:
    m.embed_dim = m.kdim = m.vdim = m.out_proj.weight.shape[0]
    m.head_dim = m.embed_dim // m.num_heads


def _mha_slices(m: nn.Module) -> tuple[TensorSlice, ...]:
    slices = [
        TensorSlice("in_proj_weight", 0, "state", 3),
        TensorSlice("in_proj_weight", 1, "consumer"),
        TensorSlice("out_proj.weight", 0, "producer"),
        TensorSlice("out_proj.weight", 1, "state"),
    ]
    if m.in_proj_bias is not None:
        slices.append(TensorSlice("in_proj_bias", 0, "state", 3))
    if m.out_proj.bias is not None:
        slices.append(TensorSlice("out_proj.bias", 0, "state"))
    slices += [
        TensorSlice(n, 2, "state") for n in ("bias_k", "bias_v") if getattr(m, n) is not None
    ]
    return tuple(slices)


def _hf_conv1d_type() -> type | None:
    """``transformers``' Conv1D (GPT-2's linear layer with a transposed weight), if loaded.

    Only an already imported ``transformers`` is asked: a model holding its layers imported it,
    and importing it here for a model without them would cost seconds of start-up."""
    if "transformers" not in sys.modules:
        return None
    try:
        from transformers.pytorch_utils import Conv1D
    except Exception:  # transformers is an optional extra
        return None
    return Conv1D


def _sync_hf_conv1d(m: nn.Module) -> None:
    m.nf = m.weight.shape[1]


def is_rms_norm(m: nn.Module) -> bool:
    """``nn.RMSNorm`` or a Hugging Face ``*RMSNorm`` (one 1-D ``weight``, nothing else)."""
    if isinstance(m, getattr(nn, "RMSNorm", ())):
        return True
    params = dict(m.named_parameters(recurse=False))
    return (
        type(m).__name__.endswith("RMSNorm")
        and set(params) == {"weight"}
        and params["weight"].dim() == 1
        and not any(True for _ in m.children())
    )


_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BATCHNORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_INSTANCENORM = (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
_STATS = ("weight", "bias", "running_mean", "running_var")

_LINEAR_RULE = SlicingRule(
    "linear",
    out=lambda m: (TensorSlice("weight", 0, "producer"),) + _with_bias(m),
    inputs=lambda m: (TensorSlice("weight", 1, "consumer"),),
    channels=lambda m: m.weight.shape[0],
    sync=_sync_linear,
)
_CONV_RULE = SlicingRule(
    "conv",
    out=lambda m: (TensorSlice("weight", 0, "producer"),) + _with_bias(m),
    inputs=lambda m: (TensorSlice("weight", 1, "consumer", fold=m.groups > 1),),
    channels=lambda m: m.weight.shape[0],
    sync=_sync_conv,
    channel_groups=lambda m: m.groups,
)
_DEPTHWISE_RULE = SlicingRule(
    "depthwise conv",
    out=lambda m: (TensorSlice("weight", 0, "producer"),) + _with_bias(m),
    inputs=lambda m: (TensorSlice("weight", 0, "producer"),) + _with_bias(m),
    channels=lambda m: m.weight.shape[0],
    sync=_sync_conv,
    coupled=True,
)


def _norm_rule(kind: str, attr: str, groups: Callable[[nn.Module], int] = lambda m: 1):
    def slices(m: nn.Module) -> tuple[TensorSlice, ...]:
        return _present(m, _STATS)

    return SlicingRule(
        kind, slices, slices, lambda m: getattr(m, attr), _sync_norm(attr), groups, coupled=True
    )


_BATCHNORM_RULE = _norm_rule("batchnorm", "num_features")
_INSTANCENORM_RULE = _norm_rule("instancenorm", "num_features")
_GROUPNORM_RULE = _norm_rule("groupnorm", "num_channels", lambda m: m.num_groups)
_LAYERNORM_RULE = SlicingRule(
    "layernorm",
    out=lambda m: _present(m, ("weight", "bias")),
    inputs=lambda m: _present(m, ("weight", "bias")),
    channels=lambda m: m.normalized_shape[-1],
    sync=_sync_shape_tuple,
    coupled=True,
)
_RMSNORM_RULE = SlicingRule(
    "rmsnorm",
    out=lambda m: _present(m, ("weight",)),
    inputs=lambda m: _present(m, ("weight",)),
    channels=lambda m: m.weight.shape[0],
    sync=lambda m: _sync_shape_tuple(m) if hasattr(m, "normalized_shape") else None,
    coupled=True,
)
_PRELU_RULE = SlicingRule(
    "prelu",
    out=lambda m: (TensorSlice("weight", 0, "state"),),
    inputs=lambda m: (TensorSlice("weight", 0, "state"),),
    channels=lambda m: m.weight.shape[0],
    sync=lambda m: setattr(m, "num_parameters", m.weight.shape[0]),
    coupled=True,
)
_EMBEDDING_RULE = SlicingRule(
    "embedding",
    out=lambda m: (TensorSlice("weight", 1, "producer"),),
    inputs=lambda m: (TensorSlice("weight", 1, "producer"),),
    channels=lambda m: m.weight.shape[1],
    sync=_sync_embedding,
    coupled=True,
)
_HF_CONV1D_RULE = SlicingRule(
    "transformers Conv1D",
    out=lambda m: (TensorSlice("weight", 1, "producer"),) + _with_bias(m),
    inputs=lambda m: (TensorSlice("weight", 0, "consumer"),),
    channels=lambda m: m.weight.shape[1],
    sync=_sync_hf_conv1d,
)
_LSTM_RULE = SlicingRule(
    "lstm",
    out=_recurrent_out(4),
    inputs=lambda m: (TensorSlice("weight_ih_l0", 1, "consumer"),),
    channels=lambda m: m.hidden_size,
    sync=_sync_recurrent,
)
_GRU_RULE = SlicingRule(
    "gru",
    out=_recurrent_out(3),
    inputs=lambda m: (TensorSlice("weight_ih_l0", 1, "consumer"),),
    channels=lambda m: m.hidden_size,
    sync=_sync_recurrent,
)
_MHA_RULE = SlicingRule(
    "multihead attention",
    out=_mha_slices,
    inputs=_mha_slices,
    channels=lambda m: m.embed_dim,
    sync=_sync_mha,
    channel_groups=lambda m: m.num_heads,
    coupled=True,
)


def _refuse(name: str, module: nn.Module, why: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"layer '{name or '<model>'}' ({type(module).__name__}) {why}; {_fix(name)}."
    )


def slicing_rule(module: nn.Module, name: str = "") -> SlicingRule | None:
    """The slicing rule of ``module`` (None for layers without per-channel tensors).

    Raises ``UnsupportedModelError`` (one line naming the layer and the ``ignored_layers`` fix)
    for a known layer type in a configuration unit groups cannot slice.
    """
    if isinstance(module, nn.Linear):
        return _LINEAR_RULE
    if isinstance(module, _CONV):
        if is_depthwise(module):
            return _DEPTHWISE_RULE
        return _CONV_RULE
    if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        raise _refuse(name, module, "is a transposed convolution, which unit groups do not slice")
    if isinstance(module, _BATCHNORM):
        return _BATCHNORM_RULE
    if isinstance(module, _INSTANCENORM):
        return _INSTANCENORM_RULE
    if isinstance(module, nn.GroupNorm):
        return _GROUPNORM_RULE
    if isinstance(module, nn.LayerNorm):
        if len(module.normalized_shape) != 1:
            raise _refuse(
                name,
                module,
                f"normalises over {len(module.normalized_shape)} "
                "dimensions; unit groups slice LayerNorms over the last one only",
            )
        return _LAYERNORM_RULE
    if is_rms_norm(module):
        return _RMSNORM_RULE
    if isinstance(module, nn.PReLU):
        return _PRELU_RULE if module.num_parameters > 1 else None
    if isinstance(module, nn.Embedding):
        return _EMBEDDING_RULE
    if isinstance(module, nn.MultiheadAttention):
        if not module._qkv_same_embed_dim or module.add_zero_attn:
            raise _refuse(
                name,
                module,
                "has separate key/value widths or add_zero_attn, which unit groups do not slice",
            )
        return _MHA_RULE
    if isinstance(module, (nn.LSTM, nn.GRU)):
        if module.num_layers != 1 or module.bidirectional or getattr(module, "proj_size", 0):
            raise _refuse(
                name,
                module,
                "is a stacked, bidirectional or projected recurrent "
                "layer; unit groups slice one-layer, one-direction LSTM/GRU only",
            )
        return _LSTM_RULE if isinstance(module, nn.LSTM) else _GRU_RULE
    conv1d = _hf_conv1d_type()
    if conv1d is not None and isinstance(module, conv1d):
        return _HF_CONV1D_RULE
    return None


def _fix(name: str) -> str:
    return f"exclude it with ignored_layers=[model.{name}]" if name else "use a supported layer"


def check_supported(model: nn.Module, ignored: Iterable[nn.Module] = ()) -> None:
    """Raise ``UnsupportedModelError`` for the first layer unit groups cannot handle.

    A module with a slicing rule is supported as far as the rule says. Any other module may
    hold parameters only when they are per-channel (1-D, e.g. a custom norm's scale) or when it
    is a container holding them as attributes (class tokens, position embeddings, layer
    scales), which Torch-Pruning slices along their last non-singleton dimension; a leaf of
    unknown type with a matrix or kernel is refused. Buffers of unknown modules (rotary
    frequencies, position ids) are never sliced. Modules in ``ignored`` are skipped.
    """
    skipped = {id(m) for root in ignored for m in root.modules()}
    for name, module in model.named_modules():
        if id(module) in skipped:
            continue
        if slicing_rule(module, name) is not None:
            continue
        own = dict(module.named_parameters(recurse=False))
        leaf = not any(True for _ in module.children())
        if leaf and any(p.dim() > 1 for p in own.values()):
            kind = type(module).__name__
            raise UnsupportedModelError(
                f"layer '{name or '<model>'}' ({kind}) holds tensors unit groups cannot slice; "
                f"{_fix(name)}."
            )


# Containers that keep a width of their own besides their layers' tensors: (the attribute, the
# child layer whose output width it must equal). torchvision's VisionTransformer reshapes its
# patch embedding with ``hidden_dim``.
CONTAINER_WIDTHS: tuple[tuple[str, str], ...] = (("hidden_dim", "conv_proj"),)


def sync_shape_attributes(module: nn.Module) -> None:
    """Make a sliced layer's size attributes agree with its tensors."""
    rule = slicing_rule(module)
    if rule is not None:
        rule.sync(module)
    for attr, child in CONTAINER_WIDTHS:
        layer = getattr(module, child, None)
        if isinstance(getattr(module, attr, None), int) and isinstance(layer, _CONV):
            setattr(module, attr, layer.weight.shape[0])
