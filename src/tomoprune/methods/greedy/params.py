"""Hyperparameters of the greedy compressor and of the baselines (frozen, keyword-only).

Layer indices count the model's weighted layers (Linear/Conv2d) from 0 in forward order: in the
paper's MLP y = W3 ReLU(W2 ReLU(W1 x)), W1 is layer 0 and W2 layer 1.

The methods ``greedy-prune``, ``greedy-quant``, ``weight-magnitude``, ``wanda-baseline``,
``rtn-baseline`` and ``obs`` are registered here (no torch, so the command line lists them and checks their settings
before torch loads); ``method.PostTrainingCompression`` runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tomoprune.errors import ConfigError
from tomoprune.methods import MethodSpec, register_method


@dataclass(frozen=True, kw_only=True)
class GreedyParams:
    """The randomized greedy compressor of El Cheairi, Gamarnik and Mazumder.

    ``wide_layers`` is the paper's set W (each compressed alone, scored at its own output),
    ``pair_layers`` the set B (layer l compressed, scored at the output of layer l + 1).
    The score's loss at depth kappa is the squared error of the pre-activation output of
    weighted layer kappa against the uncompressed network's, mean over calibration samples.
    With ``project_output`` each compressed layer's output is projected onto the theory's
    ball (``methods.greedy.projection``) before the later selected layers are scored.
    """

    mode: Literal["prune", "quant"] = "prune"
    wide_layers: tuple[int, ...] = (1,)
    pair_layers: tuple[int, ...] = ()
    # fraction of each selected layer's weights (or units, when structured) compressed
    alpha: float = 0.9
    # keep probability of t = w * Bernoulli(p) / p
    p: float = 0.3
    # quantization: 2**bits grid levels on [-M, M]; "shared" uses the largest M of all layers
    bits: int = 4
    grid: Literal["per_layer", "shared"] = "per_layer"
    # structured pruning: whole input columns of wide layers, whole output rows (units or
    # filters) of pair layers; removed units are cut out physically
    structured: bool = False
    # "fast": closed form where the score reduces to one sort, batched scoring elsewhere;
    # "literal": one loss evaluation per candidate and outcome, rescored after every step
    implementation: Literal["fast", "literal"] = "fast"
    # pair layers in the fast path: rescore after every step (None: the exact greedy) or in
    # this many rounds of equal size (an approximation that the records name)
    rescore_rounds: int | None = None
    # calibration samples used for scoring (None: all)
    calibration_size: int | None = 1024
    # the theory's projection of each compressed layer's output onto the l2 ball of radius
    # c^l R (``methods.greedy.projection``); the paper's experiments leave it out
    project_output: bool = False
    seed: int = 0


@dataclass(frozen=True, kw_only=True)
class BaselineParams:
    """Magnitude, Wanda, round-to-nearest and OBS-style (SparseGPT/GPTQ) compression.

    Pruning baselines zero ``1 - density`` of each selected layer's weights (the greedy
    pruner's expected density is 1 - alpha + alpha p, 0.37 at the paper's settings);
    quantization baselines put every weight of the layer on the same ``bits`` grid.

    ``structured``: prune whole units instead, as the structured greedy pruner does: input
    columns of each layer in ``layers`` (wide layers), output rows of each layer in
    ``pair_layers`` (scored at the next layer); ``round(density * units)`` units are kept and
    the others removed physically (``structured_baselines``).
    """

    mode: Literal["prune", "quant"] = "prune"
    layers: tuple[int, ...] = (1,)
    # structured only: layers whose output rows (units, filters) are pruned, as the greedy
    # compressor's tall-then-wide pairs
    pair_layers: tuple[int, ...] = ()
    structured: bool = False
    density: float = 0.37
    bits: int = 4
    grid: Literal["per_layer", "shared"] = "per_layer"
    # magnitude: one threshold over all selected layers ("global") or one per layer
    scope: Literal["global", "per_layer"] = "per_layer"
    # OBS-style solver: Hessian damping (fraction of the mean diagonal) and SparseGPT's
    # mask-selection block size (columns)
    damp: float = 0.01
    mask_block: int = 128
    calibration_size: int | None = 1024
    seed: int = 0


def validate_greedy(params: GreedyParams) -> None:
    if not 0.0 <= params.alpha <= 1.0:
        raise ConfigError(
            f"The 'method.alpha' setting must be between 0 and 1. Got {params.alpha} instead."
        )
    if not 0.0 < params.p <= 1.0:
        raise ConfigError(f"The 'method.p' setting must be in (0, 1]. Got {params.p} instead.")
    if set(params.wide_layers) & set(params.pair_layers):
        raise ConfigError(
            "The 'method.wide_layers' and 'method.pair_layers' settings must be disjoint. "
            f"Got {list(params.wide_layers)} and {list(params.pair_layers)} instead."
        )
    if not params.wide_layers and not params.pair_layers:
        raise ConfigError(
            "Select at least one layer with method.wide_layers or method.pair_layers."
        )
    for layer in params.wide_layers + params.pair_layers:
        if layer - 1 in params.pair_layers:
            raise ConfigError(
                f"Layer {layer} directly follows pair layer {layer - 1}, which the greedy "
                "algorithm does not allow; drop one of them from the selection."
            )
    if params.structured and params.mode == "quant":
        raise ConfigError("method.structured applies to pruning only; use method.mode=prune.")
    if params.rescore_rounds is not None and params.rescore_rounds < 1:
        raise ConfigError(
            "The 'method.rescore_rounds' setting must be at least 1 or none. "
            f"Got {params.rescore_rounds} instead."
        )


def validate_baseline(params: BaselineParams) -> None:
    if not 0.0 <= params.density <= 1.0:
        raise ConfigError(
            f"The 'method.density' setting must be between 0 and 1. Got {params.density} instead."
        )
    if not params.layers and not params.pair_layers:
        raise ConfigError("Select at least one layer with method.layers.")
    if params.pair_layers and not params.structured:
        raise ConfigError(
            "method.pair_layers applies to structured baselines only; set "
            "method.structured=true or list the layers in method.layers."
        )
    if set(params.layers) & set(params.pair_layers):
        raise ConfigError(
            "The 'method.layers' and 'method.pair_layers' settings must be disjoint. "
            f"Got {list(params.layers)} and {list(params.pair_layers)} instead."
        )
    if params.structured and params.mode == "quant":
        raise ConfigError(
            "method.structured applies to pruning only (magnitude, wanda, obs); use "
            "method.mode=prune."
        )
    if params.damp < 0:
        raise ConfigError(f"The 'method.damp' setting must be >= 0. Got {params.damp} instead.")


FAMILY = "post-training"
# names on `tomoprune compress --method` that differ from the registry name
COMPRESS_ALIASES = {"magnitude": "weight-magnitude"}


@dataclass(frozen=True, kw_only=True)
class GreedyQuantParams(GreedyParams):
    """The greedy compressor with quantization as its default mode."""

    mode: Literal["prune", "quant"] = "quant"


@dataclass(frozen=True, kw_only=True)
class QuantBaselineParams(BaselineParams):
    """A baseline whose default mode is quantization (round-to-nearest)."""

    mode: Literal["prune", "quant"] = "quant"


for _name, _params, _summary in (
    ("greedy-prune", GreedyParams, "randomized greedy post-training pruning (El Cheairi et al.)"),
    ("greedy-quant", GreedyQuantParams, "randomized greedy post-training quantization"),
    ("weight-magnitude", BaselineParams, "post-training: zero the smallest |w|"),
    ("wanda-baseline", BaselineParams, "post-training: zero the smallest |w| * ||x_j|| per row"),
    ("rtn-baseline", QuantBaselineParams, "post-training: round every weight to the paper grid"),
    ("obs", BaselineParams, "post-training OBS: SparseGPT (prune) or GPTQ (mode=quant)"),
):
    register_method(
        MethodSpec(
            name=_name,
            params_type=_params,
            factory="tomoprune.methods.greedy.method:build_method",
            default_model="mlp",
            summary=_summary,
            family=FAMILY,
        )
    )
