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
regulariser's metrics. The settings and the ``--method`` registrations are in ``settings`` (no
torch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from tomoprune.engine.hooks import TrainingHook
from tomoprune.engine.method import CompressionMethod, CompressionOutcome, CycleContext, Phase
from tomoprune.errors import ConfigError
from tomoprune.methods.l0.base import Regulariser, regularised_parameters
from tomoprune.methods.l0.gradient_pruning import random_gradient_prune, remove_dead_units
from tomoprune.methods.l0.masks import MaskHook, apply_masks, nonzero_masks
from tomoprune.methods.l0.plateau import PlateauStop
from tomoprune.methods.l0.pmmp import PMMPHook, SettledStop
from tomoprune.methods.l0.settings import (
    L0_RUN_DEFAULTS,
    DenseParams,
    DRRParams,
    L0Params,
    L0Schedule,
    PMMPParams,
    RL1Params,
    l0_params_type,
    regulariser_settings,
    validate,
)
from tomoprune.methods.l0.sparse_export import (
    SPARSE_EXPORT_FILE,
    storage_report,
    write_sparse_export,
)
from tomoprune.methods.l0.tamade import tamade
from tomoprune.structure import find_groups
from tomoprune.structure.layers import WEIGHTED


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


def build_method(name: str, params: L0Schedule, run_config: Any) -> L0Method:
    """The factory of ``--method dense`` and of every regulariser's ``--method``."""
    return L0Method(name, params)


__all__ = [
    "L0_RUN_DEFAULTS",
    "DRRParams",
    "DenseParams",
    "L0Method",
    "L0Params",
    "L0Schedule",
    "PMMPParams",
    "RL1Params",
    "build_method",
    "has_unit_groups",
    "hidden_units",
    "l0_params_type",
    "regulariser_settings",
]
