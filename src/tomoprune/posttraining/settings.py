"""The post-training compressors' settings, registered in ``POSTTRAINING``; no torch here.

Each class is the compressor object itself (``GPTQ(bits=4, group_size=128)``); its
``compress_layer`` is the function its registration names, in the compressor's own module
(``gptq``, ``sparsegpt``, ``wanda``, ``rtn``, ``magnitude``, ``greedy``), imported the first time
a layer is compressed. ``base`` holds what that function is given (``LayerProblem``,
``LayerContext``) and returns (``LayerResult``). Every registered compressor also gets a
``tomoprune compress --method NAME``: ``tomoprune.methods.posttraining_params`` (the layer
above) registers it, also without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from tomoprune.errors import ConfigError
from tomoprune.plugins import Interval, OneOf, PluginRegistry, Settings

if TYPE_CHECKING:
    from tomoprune.posttraining.base import LayerContext, LayerProblem, LayerResult

POSTTRAINING_PACKAGE = "tomoprune.posttraining"
FAMILY = "post-training"
# the quantization grids of tomoprune.posttraining.grid
GridKind = Literal["asymmetric", "symmetric", "span"]


class Compressor(Settings):
    """Base of the post-training compressors' settings.

    ``needs_calibration``: whether ``compress_layer`` reads ``problem.hessian`` (RTN and
    magnitude do not, and run without data). ``bits`` (None: no quantization) tells exports
    what was done.
    """

    needs_calibration: ClassVar[bool] = True

    def compress_layer(self, problem: LayerProblem, context: LayerContext) -> LayerResult:
        return self.run_implementation("compress_layer", problem, context)

    def check_layer(self, problem: LayerProblem) -> None:
        """Raise ConfigError when the settings cannot apply to this layer's shape."""

    @property
    def quant_bits(self) -> int | None:
        return getattr(self, "bits", None)


POSTTRAINING: PluginRegistry[Compressor] = PluginRegistry("post-training compressor")


@dataclass(frozen=True, kw_only=True)
class Pruner(Compressor):
    """Base of the pruners' settings: a ``sparsity`` share, or an ``nm`` pattern ("2:4", kept N
    of every M input columns) that replaces it."""

    sparsity: float = 0.5
    nm: Any = None  # "N:M", [N, M] or None; stored as (N, M)

    constraints = {"sparsity": Interval(0, 1, closed="left")}

    def __post_init__(self) -> None:
        object.__setattr__(self, "nm", parse_nm(self.nm, "nm", type(self).__name__))
        super().__post_init__()

    @property
    def density(self) -> float:
        return self.nm[0] / self.nm[1] if self.nm is not None else 1.0 - self.sparsity

    def check_layer(self, problem: LayerProblem) -> None:
        if self.nm is not None and problem.weight.shape[1] % self.nm[1]:
            raise ConfigError(
                f"layer {problem.name} has {problem.weight.shape[1]} input columns, not a "
                f"multiple of M = {self.nm[1]}; leave it out of the layer patterns for N:M."
            )


def parse_nm(value: Any, setting: str, owner: str) -> tuple[int, int] | None:
    """N:M sparsity as (kept N, group size M) from "2:4", [2, 4] or (2, 4); None passes."""
    if value is None:
        return None
    parts: Any = value.split(":") if isinstance(value, str) else value
    try:
        n, m = (int(p) for p in parts)
    except (TypeError, ValueError):
        n = m = -1
    if not 0 < n < m:
        raise ConfigError(
            f"The '{setting}' setting of {owner} must be 'N:M' with 0 < N < M (N weights kept "
            f"in every M consecutive inputs, e.g. '2:4'). Got {value!r} instead."
        )
    return n, m


@POSTTRAINING.register(
    "gptq",
    implementation=f"{POSTTRAINING_PACKAGE}.gptq:compress_layer",
    summary="GPTQ: column-wise quantization with OBS error feedback",
)
@dataclass(frozen=True, kw_only=True)
class GPTQ(Compressor):
    """GPTQ settings. Defaults: 4 bits, per-channel asymmetric grid, block 128, damping 0.01."""

    bits: int = 4
    grid: GridKind = "asymmetric"
    # one grid per output row (True) or one for the whole tensor (False)
    per_channel: bool = True
    # columns sharing one grid within a row; None: the whole row
    group_size: int | None = None
    act_order: bool = False
    static_groups: bool = False
    block_size: int = 128
    # Hessian damping, as a fraction of the mean of its diagonal
    damp: float = 0.01
    # arithmetic of the column sweep (the Hessian inverse is always taken in float64)
    precision: Literal["float32", "float64"] = "float32"
    # the 'span' grid's radius M (None: the largest |w| of the row or tensor)
    span_radius: float | None = None

    constraints = {
        "bits": Interval(1, 16, integer=True),
        "group_size": Interval(1, None, integer=True),
        "block_size": Interval(1, None, integer=True),
        "damp": Interval(0, None),
        "span_radius": Interval(0, None, closed="neither"),
        "per_channel": OneOf((False, True)),
        "act_order": OneOf((False, True)),
        "static_groups": OneOf((False, True)),
    }

    def check(self) -> None:
        if self.static_groups and self.group_size is None:
            raise ConfigError(
                "The 'static_groups' setting of GPTQ needs 'group_size' (a number of columns "
                "per grid). Got static_groups=True with group_size=None instead."
            )
        if self.span_radius is not None and self.grid != "span":
            raise ConfigError(
                "The 'span_radius' setting of GPTQ applies to grid='span' only. "
                f"Got grid={self.grid!r} instead."
            )


@POSTTRAINING.register(
    "sparsegpt",
    implementation=f"{POSTTRAINING_PACKAGE}.sparsegpt:compress_layer",
    summary="SparseGPT: OBS pruning, block-wise mask, N:M, +quant",
)
@dataclass(frozen=True, kw_only=True)
class SparseGPT(Pruner):
    """SparseGPT settings. ``nm`` ("2:4") replaces ``sparsity`` by an N:M pattern."""

    # joint quantization of the kept weights (None: keep float weights)
    bits: int | None = None
    grid: Literal["asymmetric", "symmetric"] = "asymmetric"
    block_size: int = 128
    damp: float = 0.01
    precision: Literal["float32", "float64"] = "float32"

    constraints = {
        "bits": Interval(1, 16, integer=True),
        "block_size": Interval(1, None, integer=True),
        "damp": Interval(0, None),
    }

    def check(self) -> None:
        if self.nm is not None and self.block_size % self.nm[1]:
            raise ConfigError(
                f"The 'block_size' setting of SparseGPT must be a multiple of M = {self.nm[1]} "
                f"with nm='{self.nm[0]}:{self.nm[1]}'. Got {self.block_size} instead."
            )


@POSTTRAINING.register(
    "wanda",
    implementation=f"{POSTTRAINING_PACKAGE}.wanda:compress_layer",
    summary="Wanda: |w| * ||x|| per output row or N:M, no update",
)
@dataclass(frozen=True, kw_only=True)
class Wanda(Pruner):
    """Wanda settings: ``sparsity`` per output row, or an ``nm`` pattern such as "2:4"."""


@POSTTRAINING.register(
    "rtn",
    implementation=f"{POSTTRAINING_PACKAGE}.rtn:compress_layer",
    summary="round-to-nearest onto per-channel / per-group grids",
)
@dataclass(frozen=True, kw_only=True)
class RTN(Compressor):
    """RTN settings (the grid settings mean what they mean for GPTQ)."""

    bits: int = 4
    grid: GridKind = "asymmetric"
    per_channel: bool = True
    group_size: int | None = None
    span_radius: float | None = None

    constraints = {
        "bits": Interval(1, 16, integer=True),
        "group_size": Interval(1, None, integer=True),
        "span_radius": Interval(0, None, closed="neither"),
        "per_channel": OneOf((False, True)),
    }
    needs_calibration = False

    def check(self) -> None:
        if self.span_radius is not None and self.grid != "span":
            raise ConfigError(
                "The 'span_radius' setting of RTN applies to grid='span' only. "
                f"Got grid={self.grid!r} instead."
            )


@POSTTRAINING.register(
    "magnitude",
    implementation=f"{POSTTRAINING_PACKAGE}.magnitude:compress_layer",
    summary="zero the smallest |w| per layer, per row or N:M",
)
@dataclass(frozen=True, kw_only=True)
class Magnitude(Pruner):
    """Magnitude pruning settings: one threshold per layer ('layer') or per output row."""

    scope: Literal["layer", "row"] = "layer"

    needs_calibration = False


@POSTTRAINING.register(
    "greedy",
    implementation=f"{POSTTRAINING_PACKAGE}.greedy:compress_layer",
    summary="randomized greedy pruning/quantization (El Cheairi+)",
)
@dataclass(frozen=True, kw_only=True)
class Greedy(Compressor):
    """Greedy settings: the share ``alpha`` of weights replaced, by draws of t (mean w)."""

    mode: Literal["prune", "quant"] = "prune"
    alpha: float = 0.9
    p: float = 0.3
    bits: int = 4
    # the grid's radius M (None: each layer's largest |w|; a number: one grid for all layers)
    span_radius: float | None = None
    seed: int = 0

    constraints = {
        "alpha": Interval(0, 1),
        "p": Interval(0, 1, closed="right"),
        "bits": Interval(1, 16, integer=True),
        "span_radius": Interval(0, None, closed="neither"),
    }

    def check(self) -> None:
        if self.span_radius is not None and self.mode != "quant":
            raise ConfigError(
                "The 'span_radius' setting of Greedy applies to mode='quant' only. "
                f"Got mode={self.mode!r} instead."
            )

    @property
    def quant_bits(self) -> int | None:
        return self.bits if self.mode == "quant" else None
