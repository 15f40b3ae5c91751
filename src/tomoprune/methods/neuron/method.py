"""Structured neuron pruning in train-compress cycles: DTC, magnitude and random.

One method, three scorers: each cycle trains ``steps_per_cycle`` batches, scores the hidden
units, keeps ``keep_count(width)`` of them by the keep rule and builds the physically smaller
network. The loop stops once the width is at or below ``min_width``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from torch import nn

from tomoprune.engine.method import CompressionOutcome, CycleContext, Phase
from tomoprune.errors import ConfigError
from tomoprune.methods import MethodSpec, register_method
from tomoprune.methods.neuron.scoring import SCORER_REGISTRY, ScoringContext, load_builtin_scorers
from tomoprune.models.surgery import (
    WEIGHTED,
    apply_plan,
    prunable_layers,
    removal_plan,
    unit_count,
)


@dataclass(frozen=True, kw_only=True)
class NeuronPruningParams:
    """Hyperparameters shared by every neuron scorer.

    ``keep_rule``: "largest" keeps the ``keep_count`` units of largest |score| (what magnitude
    pruning means everywhere else); "below_quantile" keeps the units whose |score| is strictly
    below the ``1 - fraction`` quantile, i.e. removes the largest ones (the published run).
    """

    fraction: float = 0.1  # share of the current width removed per cycle
    min_width: int = 10  # stop once the width is at or below this
    # "largest": keep the units of largest |score|; "below_quantile": keep those below the
    # 1 - fraction quantile, i.e. remove the largest (the published run)
    keep_rule: Literal["largest", "below_quantile"] = "largest"
    layer: int = 0  # which prunable layer (index into models.surgery.prunable_layers)
    seed: int = 42424242  # seed of the method's random draws (measurements, random scores)
    # reference: numpy re-seeded with ``seed`` before every random draw
    reseed_each_cycle: bool = False


@dataclass(frozen=True, kw_only=True)
class DTCParams(NeuronPruningParams):
    """Inverse compressed sensing settings (lambda, measurement count, solver)."""

    lam: float = 0.3  # l1 weight (lambda) of the compressed-sensing solve
    measurement_fraction: float = 0.1  # measurements per unit: n = fraction x width
    # "reference": n = int(m * (1 - (1 - fraction))) as the notebook computed it (one short
    # of m/10 when m is a multiple of 10); "round": n = max(1, round(fraction * m))
    measurement_rule: Literal["reference", "round"] = "round"
    solver: str = "native"  # l1 solver: native | lasso_lars | scs | clarabel (cvxpy)
    # "rays": the paper's DTC (one number per unit and layer); "weight_level": reconstruct
    # both whole weight matrices (matrix-free, Section III of the paper) and score each unit by
    # the norms of its reconstructed incoming row and outgoing column
    variant: Literal["rays", "weight_level"] = "rays"
    # l1 weight of the weight-level solve (None: lam_ratio x lambda_max of each layer)
    weight_level_lam: float | None = None
    weight_level_lam_ratio: float = 0.01  # weight-level l1 weight as a share of lambda_max


def keep_count(width: int, fraction: float) -> int:
    """How many units a cycle keeps: those strictly below the (1 - fraction) quantile of
    ``width`` distinct values (512 -> 460 -> 414 -> ... -> 11 -> 9 for fraction 0.1)."""
    positions = np.arange(width)
    return int(np.sum(positions < np.quantile(positions, 1.0 - fraction)))


def select_units(scores: np.ndarray, count: int, rule: str, fraction: float) -> np.ndarray:
    """Sorted indices of the units to keep (``count`` of them under the "largest" rule)."""
    magnitude = np.abs(scores)
    if rule == "below_quantile":
        return np.flatnonzero(magnitude < np.quantile(magnitude, 1.0 - fraction))
    order = np.argsort(-magnitude, kind="stable")
    return np.sort(order[:count])


def validate(params: NeuronPruningParams) -> None:
    if not 0.0 < params.fraction < 1.0:
        raise ConfigError(
            f"The 'method.fraction' setting must be between 0 and 1 (share of units removed per "
            f"cycle). Got {params.fraction} instead."
        )
    if params.min_width < 1:
        raise ConfigError(
            f"The 'method.min_width' setting must be at least 1. Got {params.min_width} instead."
        )


class NeuronPruning:
    """The train-compress method behind ``--method dtc|magnitude|random``."""

    def __init__(self, name: str, params: NeuronPruningParams, train_config: Any) -> None:
        validate(params)
        load_builtin_scorers()
        self.name = name
        self.params = params
        self.scorer = SCORER_REGISTRY.get(name)
        self.train = train_config
        self.numpy_state: dict[str, Any] = {}

    def _layer(self, model: nn.Sequential) -> int:
        layers = prunable_layers(model)
        try:
            return layers[self.params.layer]
        except IndexError:
            raise ConfigError(
                f"The 'method.layer' setting must index one of the model's {len(layers)} "
                f"prunable layers. Got {self.params.layer} instead."
            ) from None

    def width(self, model: nn.Sequential) -> int:
        return unit_count(model, self._layer(model))

    def check_model(self, model: nn.Sequential) -> None:
        if self.width(model) <= self.params.min_width:
            raise ConfigError(
                f"The hidden width ({self.width(model)}) must exceed method.min_width "
                f"({self.params.min_width}); lower min_width or widen the model."
            )

    def planned_widths(self, model: nn.Sequential) -> list[int]:
        """The width after each cycle (known in advance for rules that keep a fixed count)."""
        widths, width = [], self.width(model)
        while width > self.params.min_width:
            width = keep_count(width, self.params.fraction)
            widths.append(width)
        return widths

    def phases(self, cycle: int, model: nn.Module) -> list[Phase]:
        return [
            Phase(
                name="train",
                max_steps=self.train.steps_per_cycle,
                fresh_optimizer=self.train.fresh_optimizer_each_cycle,
            )
        ]

    def compress(self, model: nn.Sequential, context: CycleContext) -> CompressionOutcome:
        index = self._layer(model)
        following = next(j for j in range(index + 1, len(model)) if isinstance(model[j], WEIGHTED))
        width = unit_count(model, index)
        count = keep_count(width, self.params.fraction)
        if count < 1:
            raise ConfigError(
                f"Pruning {self.params.fraction:.0%} of {width} units leaves none; "
                "raise method.min_width or lower method.fraction."
            )
        result = self.scorer(
            model[index].weight,
            model[following].weight,
            ScoringContext(context.cycle, count, self.params, self.numpy_state),
        )
        keep = (
            result.keep
            if result.keep is not None
            else select_units(result.scores, count, self.params.keep_rule, self.params.fraction)
        )
        if len(keep) == 0:
            raise ConfigError(
                f"The '{self.params.keep_rule}' keep rule kept no unit at width {width} (all "
                "scores tie); use --set method.keep_rule=largest."
            )
        plan = removal_plan(model, index, keep)
        row = dict(result.info or {})
        return CompressionOutcome(
            model=apply_plan(model, plan),
            row=row,
            measurements=result.measurements,
            solver_objective=result.objective,
            removal=plan,
        )

    def finished(self, model: nn.Sequential, cycle: int) -> bool:
        return self.width(model) <= self.params.min_width

    def state_dict(self) -> dict[str, Any]:
        return {
            name: rng.bit_generator.state if isinstance(rng, np.random.Generator) else rng
            for name, rng in self.numpy_state.items()
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.numpy_state = {}
        for name, bit_state in state.items():
            rng = np.random.default_rng()
            rng.bit_generator.state = bit_state
            self.numpy_state[name] = rng


def _build(name: str):
    def build(params: NeuronPruningParams, run_config: Any) -> NeuronPruning:
        return NeuronPruning(name, params, run_config.train)

    return build


for _name, _params, _summary in (
    ("dtc", DTCParams, "Dual Tomographic Compression: inverse compressed sensing of weight rays"),
    ("magnitude", NeuronPruningParams, "signed sum of incoming and outgoing weights"),
    ("random", NeuronPruningParams, "units kept uniformly at random (baseline)"),
):
    register_method(
        MethodSpec(
            name=_name,
            params_type=_params,
            build=_build(_name),
            default_model="mlp",
            summary=_summary,
            family="neuron-pruning",
            validate=validate,
        )
    )
