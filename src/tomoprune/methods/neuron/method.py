"""Structured unit pruning in train-compress cycles: DTC, magnitude and random.

One method, three scorers, any number of unit groups (``tomoprune.structure``): each cycle
trains ``steps_per_cycle`` batches, scores the units of every selected group, keeps
``keep_count(width)`` of each group (or, under global selection, ranks the units of all groups
together) and builds the physically smaller network. A group stops shrinking once its width
is at or below ``min_width``; the run ends when every selected group has. The settings and
the ``--method`` registrations are in ``settings`` (no torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from tomoprune.engine.method import CompressionMethod, CompressionOutcome, CycleContext, Phase
from tomoprune.errors import ConfigError
from tomoprune.methods.neuron.scoring import ScoreResult
from tomoprune.methods.neuron.scoring.context import GroupWeights, ScoringContext
from tomoprune.methods.neuron.settings import (
    DTCParams,
    NeuronPruningParams,
    method_params,
    method_params_type,
    scorer_from_params,
    validate,
)
from tomoprune.structure import UnitGroup, apply_removal, find_groups, plan_removal, select_groups


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


def global_keep(
    scores: Sequence[np.ndarray], widths: Sequence[int], fraction: float, min_width: int
) -> list[np.ndarray]:
    """Per group, the kept units when ``fraction`` of all units go, lowest |score| first.

    The number kept overall is ``keep_count(sum(widths))``; a group never drops below
    ``min_width`` (its units are skipped once it reaches it).
    """
    total = int(sum(widths))
    to_remove = total - keep_count(total, fraction)
    group_of = np.concatenate([np.full(w, g) for g, w in enumerate(widths)])
    unit_of = np.concatenate([np.arange(w) for w in widths])
    magnitude = np.abs(np.concatenate([np.asarray(s, dtype=float) for s in scores]))
    left = list(widths)
    alive = np.ones(total, dtype=bool)
    for position in np.argsort(magnitude, kind="stable"):
        if to_remove == 0:
            break
        g = group_of[position]
        if left[g] <= min_width:
            continue
        alive[position] = False
        left[g] -= 1
        to_remove -= 1
    return [np.sort(unit_of[alive & (group_of == g)]) for g in range(len(widths))]


class NeuronPruning(CompressionMethod):
    """The train-compress method behind ``--method dtc|magnitude|random``."""

    def __init__(self, name: str, params: NeuronPruningParams, train_config: Any) -> None:
        validate(params)
        self.name = name
        self.params = params
        self.scorer = scorer_from_params(name, params)
        self.train = train_config
        self.numpy_state: dict[str, Any] = {}
        self.example_inputs: Any = None
        self.ignored_names: tuple[str, ...] = ()
        self._cache: tuple[nn.Module, list[UnitGroup]] | None = None
        # batches for scorers that need data (set by the loop or the API before compressing)
        self.calibration: Any = None

    # -- groups --------------------------------------------------------------------------
    def prepare(
        self, model: nn.Module, example_inputs: Any, ignored_layers: Sequence[nn.Module] = ()
    ) -> None:
        """Remember how to trace the model (a batch it accepts) and which layers to leave."""
        self.example_inputs = example_inputs
        # ignored layers are remembered by name, so they are found again in the pruned copies
        names = {id(m): n for n, m in model.named_modules()}
        self.ignored_names = tuple(names[id(m)] for m in ignored_layers if id(m) in names)
        self._cache = None
        self.check_model(model)

    def all_groups(self, model: nn.Module) -> list[UnitGroup]:
        """Every unit group of ``model`` (traced once per model object)."""
        if self._cache is not None and self._cache[0] is model:
            return self._cache[1]
        if self.example_inputs is None:
            raise RuntimeError("call prepare(model, example_inputs) before using the method")
        ignored = [model.get_submodule(n) for n in self.ignored_names]
        groups = find_groups(model, self.example_inputs, ignored_layers=ignored)
        self._cache = (model, groups)
        return groups

    def groups(self, model: nn.Module) -> list[tuple[int, UnitGroup]]:
        """The selected groups with their index in the model's group order."""
        every = self.all_groups(model)
        chosen = {g.name for g in select_groups(every, self.params.groups)}
        return [(i, g) for i, g in enumerate(every) if g.name in chosen]

    def widths(self, model: nn.Module) -> dict[str, int]:
        return {g.name: g.width for _, g in self.groups(model)}

    def width(self, model: nn.Module) -> int:
        return sum(self.widths(model).values())

    def check_model(self, model: nn.Module) -> None:
        groups = self.groups(model)
        if not groups:
            raise ConfigError(
                "the model has no unit group to prune (no Linear/Conv layer feeds another); "
                "choose a model with hidden layers."
            )
        if all(g.width <= self.params.min_width for _, g in groups):
            raise ConfigError(
                f"Every selected unit group's width ({', '.join(str(g.width) for _, g in groups)}) "
                f"is at or below method.min_width ({self.params.min_width}); lower min_width or "
                "widen the model."
            )

    def planned_widths(self, model: nn.Module) -> list[int]:
        """The total width after each cycle (per-group selection: known in advance)."""
        sequences = []
        for _, group in self.groups(model):
            widths, width = [], group.width
            while width > self.params.min_width:
                width = keep_count(width, self.params.fraction)
                widths.append(width)
            sequences.append((group.width, widths))
        cycles = max((len(w) for _, w in sequences), default=0)
        return [
            sum((w[c] if c < len(w) else (w[-1] if w else start)) for start, w in sequences)
            for c in range(cycles)
        ]

    def phases(self, cycle: int, model: nn.Module) -> list[Phase]:
        return [
            Phase(
                name="train",
                max_steps=self.train.steps_per_cycle,
                fresh_optimizer=self.train.fresh_optimizer_each_cycle,
            )
        ]

    # -- one compression step --------------------------------------------------------------
    def _score(
        self, model: nn.Module, index: int, group: UnitGroup, cycle: int, count: int | None
    ) -> ScoreResult:
        context = ScoringContext(
            cycle,
            count,
            self.params,
            self.numpy_state,
            index,
            group.name,
            calibration=self.calibration,
        )
        return self.scorer.score(GroupWeights(model, group), context)

    def _keep_per_group(
        self, model: nn.Module, active: list[tuple[int, UnitGroup]], cycle: int
    ) -> dict[str, tuple[np.ndarray, ScoreResult]]:
        chosen = {}
        for index, group in active:
            count = keep_count(group.width, self.params.fraction)
            if count < 1:
                raise ConfigError(
                    f"Pruning {self.params.fraction:.0%} of {group.width} units leaves none; "
                    "raise method.min_width or lower method.fraction."
                )
            result = self._score(model, index, group, cycle, count)
            keep = (
                result.keep
                if result.keep is not None
                else select_units(result.scores, count, self.params.keep_rule, self.params.fraction)
            )
            if len(keep) == 0:
                raise ConfigError(
                    f"The '{self.params.keep_rule}' keep rule kept no unit of group "
                    f"'{group.name}' at width {group.width} (all scores tie); use --set "
                    "method.keep_rule=largest."
                )
            chosen[group.name] = (np.asarray(keep), result)
        return chosen

    def _keep_global(
        self, model: nn.Module, active: list[tuple[int, UnitGroup]], cycle: int
    ) -> dict[str, tuple[np.ndarray, ScoreResult]]:
        results = [self._score(model, i, g, cycle, None) for i, g in active]
        if any(r.scores is None for r in results):
            raise ConfigError(
                f"the '{self.name}' scorer returns no scores, so it cannot rank units "
                "globally; use method.selection=per_group."
            )
        keeps = global_keep(
            [r.scores for r in results],
            [g.width for _, g in active],
            self.params.fraction,
            self.params.min_width,
        )
        return {
            g.name: (keep, result)
            for (_, g), keep, result in zip(active, keeps, results, strict=True)
        }

    def compress(self, model: nn.Module, context: CycleContext) -> CompressionOutcome:
        if self.calibration is None and context.calibration_data is not None:
            self.calibration = context.calibration_data  # the loop's calibration split
        every = self.all_groups(model)
        selected = self.groups(model)
        active = [(i, g) for i, g in selected if g.width > self.params.min_width]
        if self.params.selection == "global":
            chosen = self._keep_global(model, active, context.cycle)
        else:
            chosen = self._keep_per_group(model, active, context.cycle)
        removal = plan_removal(model, every, {name: keep for name, (keep, _) in chosen.items()})
        results = {name: result for name, (_, result) in chosen.items()}
        objectives = [r.objective for r in results.values() if r.objective is not None]
        if len(selected) == 1:
            (result,) = results.values()
            row = dict(result.info or {})
            measurements = result.measurements
        else:
            row = {}
            for _, group in selected:
                width = len(removal.kept.get(group.name, range(group.width)))
                row[f"width_{group.name}"] = width
            for name, result in results.items():
                row.update({f"{key}_{name}": value for key, value in (result.info or {}).items()})
            recorded = {n: r.measurements for n, r in results.items() if r.measurements}
            measurements = {"groups": recorded} if recorded else None
        return CompressionOutcome(
            model=apply_removal(model, removal),
            row=row,
            measurements=measurements,
            solver_objective=sum(objectives) if objectives else None,
            removal=removal,
        )

    def finished(self, model: nn.Module, cycle: int) -> bool:
        return all(width <= self.params.min_width for width in self.widths(model).values())

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


def build_method(name: str, params: NeuronPruningParams, run_config: Any) -> NeuronPruning:
    """The factory of ``--method NAME`` for every scorer (``MethodSpec.factory``)."""
    return NeuronPruning(name, params, run_config.train)


__all__ = [
    "DTCParams",
    "NeuronPruning",
    "NeuronPruningParams",
    "build_method",
    "global_keep",
    "keep_count",
    "method_params",
    "method_params_type",
    "select_units",
]
