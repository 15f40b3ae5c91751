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

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from tomoprune.engine.hooks import TrainingHook
from tomoprune.engine.method import CompressionOutcome, CycleContext, Phase
from tomoprune.errors import ConfigError
from tomoprune.methods import MethodSpec, register_method
from tomoprune.methods.l0.base import (
    REGULARISER_REGISTRY,
    Regulariser,
    load_builtin_regularisers,
    regularised_parameters,
)
from tomoprune.methods.l0.gradient_pruning import random_gradient_prune, remove_dead_units
from tomoprune.methods.l0.masks import MaskHook, apply_masks, nonzero_masks
from tomoprune.methods.l0.plateau import PlateauStop
from tomoprune.methods.l0.pmmp import PMMP, SettledStop
from tomoprune.methods.l0.sparse_export import storage_report
from tomoprune.methods.l0.tamade import tamade
from tomoprune.structure import find_groups
from tomoprune.structure.layers import WEIGHTED


@dataclass(frozen=True, kw_only=True)
class L0Params:
    """Hyperparameters of the l0 family (one dataclass for all three regularisers).

    ``regulariser`` must match the method (``--method drr`` runs DRR, ``--method dense`` runs
    ``"none"``); the methods differ only in that and in their defaults.
    """

    # the sparsity term: rl1 | drr | pmmp | none (the dense baseline: train to the plateau,
    # compress nothing); must match --method
    regulariser: Literal["rl1", "drr", "pmmp", "none"] = "drr"
    # strength of the sparsity term (l1 norm, DRR surrogate, or PMMP's expected l0 norm)
    alpha: float = 1e-5
    beta: float = 10.0  # DRR: sharpness of 1 - exp(-beta |theta|) (the paper uses 5 or 10)
    rho: float = 0.0  # R-L1, DRR: ridge term rho ||theta||^2, kept during fine-tuning
    layer_normalise: bool = False  # divide each layer's term by its parameter count
    include_biases: bool = True  # regularise and threshold biases as well as weights
    u0: float = 0.0  # PMMP: initial multipliers
    pmmp_lr: float = 1e-3  # PMMP: Adam learning rate of the companions w and pi
    pmmp_u_lr: float = 1.0  # PMMP: gradient-ascent step of the multipliers u
    pmmp_decided_tolerance: float = 0.01  # PMMP: pi within this of 0 or 1 counts as decided
    pmmp_settled_fraction: float = 0.99  # PMMP: share of decided pi needed to stop
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


@dataclass(frozen=True, kw_only=True)
class RL1Params(L0Params):
    regulariser: Literal["rl1", "drr", "pmmp", "none"] = "rl1"
    # LeNet-300-100, MNIST 55k/5k/10k: CR 32.6 at 98.10% test accuracy after fine-tuning;
    # 45k/5k/10k: CR 34.6 at 97.86% (0.23 pp below the dense baseline)
    alpha: float = 1e-4


@dataclass(frozen=True, kw_only=True)
class DRRParams(L0Params):
    regulariser: Literal["rl1", "drr", "pmmp", "none"] = "drr"
    # LeNet-300-100, MNIST 45k/5k/10k, seed 42424242, against the dense baseline's 98.09-98.15%
    # (two runs): alpha 3e-5 with TAMADE's delta 0.003 gives CR 69.2 at 97.70%. Other settings
    # (delta 0.01): alpha 1e-5 CR 31.1 at 97.94%; 2e-5 CR 56.0-56.5 at 97.69-97.72%; 3e-5
    # CR 75.5 at 97.60%; 2e-5 with beta 5 CR 40.0 at 98.01%; 2e-5 with patience 10 CR 58.8 at
    # 97.61% (fine-tuning overfits for longer).
    alpha: float = 3e-5
    tamade_delta: float = 0.003


@dataclass(frozen=True, kw_only=True)
class PMMPParams(L0Params):
    regulariser: Literal["rl1", "drr", "pmmp", "none"] = "pmmp"
    # LeNet-300-100, MNIST 55k/5k/10k: CR 27.3 at 98.09% test accuracy after fine-tuning;
    # 45k/5k/10k: CR 28.3 at 97.67% (0.42 pp below the dense baseline)
    alpha: float = 3e-5


@dataclass(frozen=True, kw_only=True)
class DenseParams(L0Params):
    """The unregularised baseline: only the stop rule and the step cap matter."""

    regulariser: Literal["rl1", "drr", "pmmp", "none"] = "none"
    alpha: float = 0.0


# method name -> the regulariser it trains with
METHOD_REGULARISERS: dict[str, str] = {"rl1": "rl1", "drr": "drr", "pmmp": "pmmp", "dense": "none"}


def _invalid(key: str, requirement: str, value: Any) -> ConfigError:
    return ConfigError(f"The 'method.{key}' setting must be {requirement}. Got {value!r} instead.")


def validate(params: L0Params) -> None:
    """Reject settings the method cannot run with, one clear sentence each."""
    checks = [
        ("alpha", params.alpha >= 0, "non-negative"),
        ("beta", params.beta > 0, "positive"),
        ("rho", params.rho >= 0, "non-negative"),
        ("u0", params.u0 >= 0, "non-negative"),
        ("pmmp_lr", params.pmmp_lr > 0, "positive"),
        ("pmmp_u_lr", params.pmmp_u_lr >= 0, "non-negative"),
        ("pmmp_decided_tolerance", 0 <= params.pmmp_decided_tolerance < 0.5, "in [0, 0.5)"),
        ("pmmp_settled_fraction", 0 <= params.pmmp_settled_fraction <= 1, "in [0, 1]"),
        ("warmup_steps", params.warmup_steps >= 0, "non-negative"),
        ("regularised_max_steps", params.regularised_max_steps >= 1, "at least 1"),
        ("finetune_max_steps", params.finetune_max_steps >= 0, "non-negative"),
        ("eval_every", params.eval_every >= 1, "at least 1"),
        ("patience", params.patience >= 1, "at least 1"),
        ("min_relative_improvement", params.min_relative_improvement >= 0, "non-negative"),
        ("smoothing", 0 <= params.smoothing < 1, "in [0, 1)"),
        ("tamade_delta", params.tamade_delta >= 0, "non-negative"),
        ("tamade_tolerance", params.tamade_tolerance > 0, "positive"),
        ("gradient_prune_samples", params.gradient_prune_samples >= 1, "at least 1"),
    ]
    for key, ok, requirement in checks:
        if not ok:
            raise _invalid(key, requirement, getattr(params, key))


def has_unit_groups(model: nn.Module) -> bool:
    """Whether dead-unit deletion applies: False for models that declare ``unit_groups = False``
    (the byte transformer, whose attention couples its widths), True for every other model."""
    return bool(getattr(model, "unit_groups", True))


def hidden_units(model: nn.Module, example_inputs: torch.Tensor) -> int:
    """Units of all unit groups (hidden Linear/Conv units) together."""
    return sum(group.width for group in find_groups(model, example_inputs))


# the settings each method reads; the other fields of L0Params do not affect it
_STOP_KEYS = ("regularised_max_steps", "eval_every", "patience", "min_relative_improvement")
_SHARED_KEYS = (
    "regulariser",
    "alpha",
    "layer_normalise",
    "include_biases",
    "warmup_steps",
    *_STOP_KEYS,
    "smoothing",
    "finetune_max_steps",
    "finetune_fresh_optimizer",
    "tamade_delta",
    "tamade_tolerance",
    "gradient_prune_samples",
    "gradient_prune_activations",
)
_PMMP_KEYS = (
    "u0",
    "pmmp_lr",
    "pmmp_u_lr",
    "pmmp_decided_tolerance",
    "pmmp_settled_fraction",
)
METHOD_SETTINGS: dict[str, tuple[str, ...]] = {
    "dense": ("regulariser", *_STOP_KEYS, "smoothing"),
    "rl1": (*_SHARED_KEYS, "rho"),
    "drr": (*_SHARED_KEYS, "beta", "rho"),
    "pmmp": (*_SHARED_KEYS, *_PMMP_KEYS),
}


# settings of one regulariser only: changing one under another method is an error, not ignored
_SPECIFIC_KEYS = ("beta", "rho", *_PMMP_KEYS)


def validator(name: str):
    """``validate`` plus: the regulariser matches the method, and no setting specific to
    another regulariser was changed (it would be silently ignored)."""

    def check(params: L0Params) -> None:
        validate(params)
        expected = METHOD_REGULARISERS.get(name, name)
        if params.regulariser != expected:
            methods = {regulariser: method for method, regulariser in METHOD_REGULARISERS.items()}
            other = methods.get(params.regulariser, params.regulariser)
            raise ConfigError(
                f"The 'method.regulariser' setting must be {expected!r} for --method {name}. Got "
                f"{params.regulariser!r} instead; run --method {other} to use that regulariser."
            )
        defaults = type(params)()
        for key in _SPECIFIC_KEYS:
            if key in METHOD_SETTINGS[name] or getattr(params, key) == getattr(defaults, key):
                continue
            readers = [m for m, keys in METHOD_SETTINGS.items() if key in keys]
            raise ConfigError(
                f"The 'method.{key}' setting does not apply to --method {name} (only "
                f"{', '.join(readers)} read it). Got {getattr(params, key)!r}; remove it."
            )

    return check


class L0Method:
    """Regularised training, TAMADE thresholding, masked fine-tuning, dead-unit deletion.

    With regulariser ``"none"`` (the ``dense`` baseline): training to the plateau only.
    """

    def __init__(self, name: str, params: L0Params) -> None:
        validate(params)
        load_builtin_regularisers()
        expected = METHOD_REGULARISERS.get(name, name)
        if params.regulariser != expected:
            methods = {regulariser: method for method, regulariser in METHOD_REGULARISERS.items()}
            other = methods.get(params.regulariser, params.regulariser)
            raise ConfigError(
                f"The 'method.regulariser' setting must be {expected!r} for --method {name}; run "
                f"--method {other} to use that regulariser."
            )
        self.name = name
        self.params = params
        self.dense = params.regulariser == "none"
        self.regulariser_type = None if self.dense else REGULARISER_REGISTRY.get(params.regulariser)
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
        if cycle == 1 and self.regulariser_type is None:
            return [
                Phase(
                    name="train",
                    max_steps=p.regularised_max_steps,
                    stop=self._plateau(),
                    eval_every=p.eval_every,
                )
            ]
        if cycle == 1:
            hook = self.regulariser_type.from_params(p)
            self._hook = hook
            stop = self._plateau()
            if isinstance(hook, PMMP):
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
        assert self.regulariser_type is not None
        relaxed = self.regulariser_type.from_params(p).relaxed()
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

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.masks = state["masks"]
        self.initial_parameters = state["initial_parameters"]
        self.threshold = state["threshold"]


L0_RUN_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("train.batch_size", 500),  # the paper's batch size
    ("train.lr", 1e-3),  # Adam 1e-3
    ("train.eval_batch_size", 5000),  # validation is measured often; large batches are faster
    ("data.validation_size", 5000),  # validation split for the plateau test and TAMADE
    ("data.train_size", 45000),  # the paper's 45k / 5k / 10k split
    ("data.split_seed", 0),
    ("model.bias", True),  # LeNets with biases
)


def _build(name: str):
    def build(params: L0Params, run_config: Any) -> L0Method:
        return L0Method(name, params)

    return build


for _name, _params, _summary in (
    ("dense", DenseParams, "unregularised baseline: train to the validation plateau, no pruning"),
    ("rl1", RL1Params, "l1 + ridge subgradient training, TAMADE threshold, relaxed fine-tuning"),
    ("drr", DRRParams, "smooth l0 surrogate sum(1 - exp(-beta|w|)), TAMADE, masked fine-tuning"),
    ("pmmp", PMMPParams, "probabilistic minimax l0 (expected l0 norm), TAMADE, fine-tuning"),
):
    register_method(
        MethodSpec(
            name=_name,
            params_type=_params,
            build=_build(_name),
            default_model="lenet300",
            summary=_summary,
            family="l0",
            run_defaults=L0_RUN_DEFAULTS,
            validate=validator(_name),
            settings=METHOD_SETTINGS[_name],
        )
    )
