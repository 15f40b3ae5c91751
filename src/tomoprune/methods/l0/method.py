"""The l0 family (R-L1, DRR, PMMP) and its dense baseline as one method of the loop.

Barth & von Petersenn, "l0 regularisation ... TAMADE" (arXiv:2505.17469). Two cycles:

1. *train and threshold*: an optional unregularised warm-up, then training with the
   regulariser until the validation loss reaches a plateau (``PlateauStop``; PMMP also waits
   until nearly all its probabilities are decided). Compression: random gradient pruning, the
   TAMADE threshold, random gradient pruning again; the surviving non-zeros become the masks.
2. *fine-tune and finalise*: masked training without the sparsity term (for R-L1 this is the
   "relaxed" variant; a ridge term ``rho`` stays) until the next plateau. Compression: a final
   random gradient pruning, then units with no outgoing connection are deleted physically.

The baseline ``dense`` (regulariser ``"none"``) is the same network trained without
regularisation: one cycle of plain training until the validation plateau, then nothing is
pruned (CR 1). It shares the loop, the stop rule and the record columns, so its accuracy is the
reference the regularised runs' accuracy drop is measured against.

Each cycle's ``cycles.csv`` row carries the threshold found, the non-zero count, the
compression ratio ``CR = initial parameters / non-zero`` and ``1 - non-zero / initial``, the
honest storage sizes (``sparse_export``), the calibration loss around every step, and the
regulariser's metrics.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from tomoprune.engine.hooks import TrainingHook
from tomoprune.engine.method import CompressionMethod, CompressionOutcome, CycleContext, Phase
from tomoprune.errors import ConfigError
from tomoprune.methods import METHOD_REGISTRY, MethodSpec, register_method
from tomoprune.methods.l0.base import (
    REGULARISERS,
    Regulariser,
    RegulariserSettings,
    regularised_parameters,
)
from tomoprune.methods.l0.drr import DRR
from tomoprune.methods.l0.gradient_pruning import random_gradient_prune, remove_dead_units
from tomoprune.methods.l0.masks import MaskHook, apply_masks, nonzero_masks
from tomoprune.methods.l0.plateau import PlateauStop
from tomoprune.methods.l0.pmmp import PMMP, PMMPHook, SettledStop
from tomoprune.methods.l0.rl1 import RL1
from tomoprune.methods.l0.sparse_export import (
    SPARSE_EXPORT_FILE,
    storage_report,
    write_sparse_export,
)
from tomoprune.methods.l0.tamade import tamade
from tomoprune.plugins import Interval, Settings
from tomoprune.structure import find_groups
from tomoprune.structure.layers import WEIGHTED


@dataclass(frozen=True, kw_only=True)
class L0Schedule(Settings):
    """How the l0 family trains around its regulariser: warm-up, plateau stop, TAMADE,
    fine-tuning, gradient pruning. Alone it is the ``dense`` baseline's settings; each
    regulariser's method adds that regulariser's own settings (``l0_params_type``)."""

    warmup_steps: int = 0  # unregularised steps before the regularised phase
    regularised_max_steps: int = 30000  # cap of the regularised phase (dense: of training)
    finetune_max_steps: int = 20000  # cap of the masked fine-tuning phase
    finetune_fresh_optimizer: bool = True  # a new Adam for fine-tuning
    eval_every: int = 100  # steps between validation-loss measurements
    patience: int = 5  # measurements without improvement before a plateau
    min_relative_improvement: float = 1e-3  # smaller relative gains do not count
    smoothing: float = 0.5  # EMA weight of the past in the plateau test
    tamade_delta: float = 0.01  # allowed relative rise of the validation loss
    tamade_tolerance: float = 1e-7  # bisection stops below this bracket width
    gradient_prune_samples: int = 1024  # random inputs per gradient-pruning pass
    # "linear": activations opened so only the connection structure counts; "model": the
    # network as it is (zero gradients of units that noise never switches on count as well)
    gradient_prune_activations: Literal["linear", "model"] = "linear"

    constraints = {
        "warmup_steps": Interval(0, None, integer=True),
        "regularised_max_steps": Interval(1, None, integer=True),
        "finetune_max_steps": Interval(0, None, integer=True),
        "eval_every": Interval(1, None, integer=True),
        "patience": Interval(1, None, integer=True),
        "min_relative_improvement": Interval(0.0, None),
        "smoothing": Interval(0.0, 1.0, closed="left"),
        "tamade_delta": Interval(0.0, None),
        "tamade_tolerance": Interval(0.0, None, closed="neither"),
        "gradient_prune_samples": Interval(1, None, integer=True),
    }


L0Params = L0Schedule  # every l0 method's params are an L0Schedule (plus a regulariser's)
_PARAMS_TYPES: dict[type, type] = {}


def l0_params_type(regulariser: type[RegulariserSettings]) -> type[L0Schedule]:
    """``--method NAME``'s settings: the schedule's and the regulariser's fields together, the
    schedule defaults overridden by the regulariser's ``method_defaults``."""
    cached = _PARAMS_TYPES.get(regulariser)
    if cached is None:
        defaults = [
            (key, type(value), dataclasses.field(default=value))
            for key, value in regulariser.method_defaults.items()
        ]
        cached = dataclasses.make_dataclass(
            f"{regulariser.__name__}Params",
            defaults,
            bases=(regulariser, L0Schedule),
            frozen=True,
            kw_only=True,
        )
        cached.__module__ = __name__
        _PARAMS_TYPES[regulariser] = cached
    return cached


def regulariser_settings(params: L0Schedule) -> RegulariserSettings | None:
    """The regulariser a method's params carry (None for the dense baseline)."""
    if not isinstance(params, RegulariserSettings):
        return None
    cls = REGULARISERS.get(type(params).name)
    return cls(**{f.name: getattr(params, f.name) for f in dataclasses.fields(cls)})


DenseParams = L0Schedule
RL1Params = l0_params_type(RL1)
DRRParams = l0_params_type(DRR)
PMMPParams = l0_params_type(PMMP)


def validate(params: L0Schedule) -> None:
    """Settings are validated when made; re-run for objects built with ``replace``."""
    params.validate()


def has_unit_groups(model: nn.Module) -> bool:
    """Whether dead-unit deletion applies: False for models that declare ``unit_groups = False``
    (the byte transformer, whose attention couples its widths), True for every other model."""
    return bool(getattr(model, "unit_groups", True))


def hidden_units(model: nn.Module, example_inputs: torch.Tensor) -> int:
    """Units of all unit groups (hidden Linear/Conv units) together."""
    return sum(group.width for group in find_groups(model, example_inputs))


class L0Method(CompressionMethod):
    """Regularised training, TAMADE thresholding, masked fine-tuning, dead-unit deletion.

    With regulariser ``"none"`` (the ``dense`` baseline): training to the plateau only.
    """

    def __init__(self, name: str, params: L0Schedule) -> None:
        validate(params)
        self.name = name
        self.params = params
        self.regulariser = regulariser_settings(params)
        self.dense = self.regulariser is None
        self.masks: dict[str, torch.Tensor] | None = None
        self.initial_parameters: int | None = None
        self.threshold: float | None = None
        self._hook: Regulariser | None = None
        self.example_inputs: torch.Tensor | None = None

    # -- what the loop asks --------------------------------------------------------------
    def prepare(self, model: nn.Module, example_inputs: torch.Tensor) -> None:
        """Remember a batch the model accepts, to trace its unit groups."""
        self.example_inputs = example_inputs

    def width(self, model: nn.Module) -> int:
        if not has_unit_groups(model):  # no unit structure: count the non-zero weights
            return sum(int(torch.count_nonzero(p)) for p in model.parameters())
        return hidden_units(model, self.example_inputs)

    def check_model(self, model: nn.Module) -> None:
        if not any(isinstance(m, WEIGHTED) for m in model.modules()):
            raise ConfigError(
                "The l0 methods need a model with Linear/Conv layers; choose --model lenet300, "
                "lenet5 or mlp."
            )

    def _plateau(self) -> PlateauStop:
        p = self.params
        return PlateauStop(
            patience=p.patience,
            min_relative_improvement=p.min_relative_improvement,
            smoothing=p.smoothing,
        )

    def phases(self, cycle: int, model: nn.Module) -> list[Phase]:
        p = self.params
        if self.initial_parameters is None:
            self.initial_parameters = sum(t.numel() for t in model.parameters())
        if cycle == 1 and self.regulariser is None:
            return [
                Phase(
                    name="train",
                    max_steps=p.regularised_max_steps,
                    stop=self._plateau(),
                    eval_every=p.eval_every,
                )
            ]
        if cycle == 1:
            hook = self.regulariser.build()
            self._hook = hook
            stop = self._plateau()
            if isinstance(hook, PMMPHook):
                stop = SettledStop(stop, hook, fraction=p.pmmp_settled_fraction)
            phases = []
            if p.warmup_steps:
                phases.append(Phase(name="warmup", max_steps=p.warmup_steps))
            phases.append(
                Phase(
                    name="regularised",
                    max_steps=p.regularised_max_steps,
                    hooks=(hook,),
                    stop=stop,
                    eval_every=p.eval_every,
                )
            )
            return phases
        if self.masks is None:
            raise RuntimeError("fine-tuning needs the masks of cycle 1; resume from its checkpoint")
        if p.finetune_max_steps == 0:
            return []
        assert self.regulariser is not None
        relaxed = self.regulariser.build().relaxed()
        hooks: list[TrainingHook] = [] if relaxed is None else [relaxed]
        hooks.append(MaskHook(self.masks))  # last: it zeroes whatever the others added
        return [
            Phase(
                name="finetune",
                max_steps=p.finetune_max_steps,
                hooks=tuple(hooks),
                stop=self._plateau(),
                eval_every=p.eval_every,
                fresh_optimizer=p.finetune_fresh_optimizer,
            )
        ]

    def compress(self, model: nn.Module, context: CycleContext) -> CompressionOutcome:
        if self.dense:
            return self._keep(model, context)
        if context.cycle == 1:
            return self._threshold(model, context)
        return self._finalise(model, context)

    def finished(self, model: nn.Module, cycle: int) -> bool:
        return cycle >= (1 if self.dense else 2)

    # -- dense baseline: nothing is pruned ---------------------------------------------------
    def _keep(self, model: nn.Module, context: CycleContext) -> CompressionOutcome:
        loss = context.calibration_loss(model)
        row: dict[str, Any] = {
            "stage": "dense",
            "threshold": None,
            "calibration_loss_before": loss,
            "calibration_loss_after": loss,
            "units_removed": 0,
        }
        row.update(self._storage_columns(model))
        return CompressionOutcome(model=model, row=row)

    # -- cycle 1: gradient pruning, TAMADE, gradient pruning ----------------------------
    def _input_shape(self, context: CycleContext) -> tuple[int, ...]:
        return tuple(context.sample_batch()[0].shape[1:])

    def _threshold(self, model: nn.Module, context: CycleContext) -> CompressionOutcome:
        p = self.params
        shape = self._input_shape(context)
        loss_before = context.calibration_loss(model)
        first = random_gradient_prune(
            model,
            shape,
            generator=context.torch_generator,
            batch_size=p.gradient_prune_samples,
            activations=p.gradient_prune_activations,
        )
        params = [
            item.param for item in regularised_parameters(model, include_biases=p.include_biases)
        ]
        found = tamade(
            model,
            context.calibration_loss,
            delta=p.tamade_delta,
            tolerance=p.tamade_tolerance,
            params=params,
        )
        second = random_gradient_prune(
            model,
            shape,
            generator=context.torch_generator,
            batch_size=p.gradient_prune_samples,
            activations=p.gradient_prune_activations,
        )
        self.masks = {name: mask.cpu() for name, mask in nonzero_masks(model).items()}
        self.threshold = found.threshold
        row: dict[str, Any] = {
            "stage": "threshold",
            "threshold": found.threshold,
            "tamade_evaluations": found.evaluations,
            "tamade_zeroed": found.zeroed,
            "gradient_zeroed_before_tamade": first.zeroed,
            "gradient_zeroed_after_tamade": second.zeroed,
            "calibration_loss_before": loss_before,
            "calibration_loss_after_gradient_pruning": found.base_loss,
            "calibration_loss_after_tamade": found.loss,
            "calibration_loss_after": context.calibration_loss(model),
            "units_removed": 0,
        }
        row.update(self._storage_columns(model))
        if self._hook is not None:
            row.update(self._hook.metrics())
        return CompressionOutcome(model=model, row=row)

    # -- cycle 2: final gradient pruning and deletion of dead units ----------------------
    def _finalise(self, model: nn.Module, context: CycleContext) -> CompressionOutcome:
        p = self.params
        assert self.masks is not None
        apply_masks(model, self.masks)
        loss_before = context.calibration_loss(model)
        last = random_gradient_prune(
            model,
            self._input_shape(context),
            generator=context.torch_generator,
            batch_size=p.gradient_prune_samples,
            activations=p.gradient_prune_activations,
        )
        smaller, removed, removal = model, {}, None
        if has_unit_groups(model):
            smaller, removed, removal = remove_dead_units(model, context.sample_batch()[0][:1])
        row: dict[str, Any] = {
            "stage": "finalise",
            "threshold": self.threshold,
            "gradient_zeroed_final": last.zeroed,
            "calibration_loss_before": loss_before,
            "calibration_loss_after": context.calibration_loss(smaller),
            "units_removed": sum(removed.values()),
            "units_removed_per_layer": ";".join(f"{k}:{v}" for k, v in removed.items()),
        }
        row.update(self._storage_columns(smaller))
        return CompressionOutcome(model=smaller, row=row, removal=removal)

    def _storage_columns(self, model: nn.Module) -> dict[str, Any]:
        report = storage_report(model)
        initial = self.initial_parameters or report.parameters
        return {
            "initial_parameters": initial,
            "compression_ratio": initial / report.nonzero if report.nonzero else float("inf"),
            "pruned_fraction": 1.0 - report.nonzero / initial,
            "initial_dense_float32_bytes": 4 * initial,
            "dense_float32_bytes": report.dense_bytes,
            "csr_bytes": report.csr_bytes,
            "bitmask_bytes": report.bitmask_bytes,
        }

    # -- resume ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "masks": self.masks,
            "initial_parameters": self.initial_parameters,
            "threshold": self.threshold,
        }

    def write_exports(self, model: nn.Module, directory: Path) -> None:
        write_sparse_export(model, Path(directory) / SPARSE_EXPORT_FILE)  # honest storage

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.masks = state["masks"]
        self.initial_parameters = state["initial_parameters"]
        self.threshold = state["threshold"]


L0_RUN_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("train.batch_size", 500),  # the paper's batch size
    ("train.lr", 1e-3),  # Adam 1e-3
    ("train.eval_batch_size", 5000),  # validation is measured often; large batches are faster
    # a validation split for the plateau test and TAMADE: 1/12 of the training set (5,000 of
    # MNIST's 60,000; `reproduce l0` sets the paper's 45k / 5k split explicitly)
    ("data.validation_fraction", 1 / 12),
    ("data.split_seed", 0),
    ("model.bias", True),  # LeNets with biases
)


def _build(name: str):
    def build(params: L0Schedule, run_config: Any) -> L0Method:
        return L0Method(name, params)

    return build


def register_l0_methods() -> None:
    """``--method dense`` and one ``--method NAME`` per registered regulariser."""
    entries = [("dense", L0Schedule, "unregularised baseline: train to the validation plateau")]
    entries += [(n, l0_params_type(cls), cls.summary) for n, cls in REGULARISERS.items()]
    for name, params_type, summary in entries:
        if name in METHOD_REGISTRY:
            continue
        register_method(
            MethodSpec(
                name=name,
                params_type=params_type,
                build=_build(name),
                default_model="lenet300",
                summary=summary,
                family="l0",
                run_defaults=L0_RUN_DEFAULTS,
                validate=validate,
            )
        )


register_l0_methods()
