"""What a compression method is, as the one train-compress loop sees it.

The loop (``engine.compress.run_compression``) repeats cycles until ``method.finished``::

    for phase in method.phases(cycle, model):          # training, extended by phase.hooks
        train(model, phase)                            # stops at max_steps or phase.stop
    outcome = method.compress(model, context)          # prune / threshold / delete units
    evaluate(outcome.model); record(outcome.row, outcome.measurements); checkpoint

DTC, magnitude and random pruning are one ``NeuronPruning`` method with different scorers;
the l0 family trains with a regulariser hook until a plateau and then thresholds; a
post-training compressor returns no phases. None of them owns a loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from tomoprune.engine.hooks import TrainingHook
from tomoprune.errors import ConfigError


class StopRule(Protocol):
    """Decides when a phase has converged, from validation losses measured every few steps."""

    def update(self, step: int, validation_loss: float) -> bool:
        """Record the loss measured after ``step`` steps; True means stop now."""
        ...

    def describe(self) -> dict[str, Any]: ...


@dataclass
class Phase:
    """One stretch of training inside a cycle.

    ``max_steps`` always bounds the phase; with a ``stop`` rule the validation loss is measured
    every ``eval_every`` steps and the phase ends when the rule says so.
    """

    name: str
    max_steps: int
    hooks: Sequence[TrainingHook] = ()
    stop: StopRule | None = None
    eval_every: int = 100
    fresh_optimizer: bool = False


@dataclass
class CycleContext:
    """What a method may use while compressing: data access and the run's random state."""

    cycle: int
    device: torch.device
    # loss of a model on the calibration (validation) split; used by TAMADE-like searches
    calibration_loss: Callable[[nn.Module], float]
    # a few training batches on the device, for gradient-based criteria
    sample_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]]
    torch_generator: torch.Generator
    numpy_rng: np.random.Generator
    # the calibration (validation, else training) inputs and targets, for post-training methods
    calibration_data: Callable[[], tuple[torch.Tensor, torch.Tensor]] | None = None


@dataclass
class CompressionOutcome:
    """The compressed model and what to record about the step that made it."""

    model: nn.Module
    # extra cycles.csv columns (threshold found, compression ratio, solver status, ...)
    row: dict[str, Any] = field(default_factory=dict)
    # per-cycle payload for measurements.json (DTC), or None
    measurements: dict[str, Any] | None = None
    solver_objective: float | None = None
    # when units were removed: the ``structure.Removal`` that made the model, so the loop can
    # slice the optimizer state alongside and record the kept units of every group (None:
    # shapes unchanged, or a fresh optimizer is needed)
    removal: Any = None


class CompressionMethod:
    """A plug-in of the train-compress loop: the whole contract the loop calls.

    Required: ``name``, ``phases``, ``compress``, ``finished``. The rest have defaults here, so
    a method overrides only what it needs; the loop never probes for optional methods.
    """

    name: str = "method"
    example_inputs: Any = None  # a batch the model accepts, set by ``prepare``

    def phases(self, cycle: int, model: nn.Module) -> list[Phase]:
        """Training to run in ``cycle`` (1-based) before compressing."""
        raise NotImplementedError

    def compress(self, model: nn.Module, context: CycleContext) -> CompressionOutcome:
        raise NotImplementedError

    def finished(self, model: nn.Module, cycle: int) -> bool:
        """True once no further cycle should run (checked after each cycle)."""
        raise NotImplementedError

    def prepare(self, model: nn.Module, example_inputs: Any) -> None:
        """Remember a batch the model accepts (methods that trace the model's unit groups)."""
        self.example_inputs = example_inputs

    def check_model(self, model: nn.Module) -> None:
        """Refuse, in one line, a model this method cannot compress (before any training)."""

    def preflight(self, model: nn.Module) -> None:
        """Refuse, in one line, settings this model cannot take, before a run directory is
        made (post-training methods check layers and calibration here)."""

    def width(self, model: nn.Module) -> int | None:
        """The size the method shrinks (units, non-zeros); None: the parameter count."""
        return None

    def planned_widths(self, model: nn.Module) -> list[int] | None:
        """The width after each cycle when known in advance (for progress bars)."""
        return None

    def write_exports(self, model: nn.Module, directory: Path) -> None:
        """Extra files of a finished run (e.g. an honest sparse export)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""


class OneShotCompression(CompressionMethod):
    """A post-training method: compresses a trained model once, from calibration data, in one
    cycle of the loop, and never trains. Subclasses give ``preflight``, ``compress`` (using
    ``calibration_inputs``) and ``export``; the width is the count of non-zero parameters, so
    the loop's sparsity column is the share of zeros."""

    def __init__(self, name: str, params: Any) -> None:
        self.name = name
        self.params = params
        self.done = False
        self.layers: list[dict[str, Any]] = []

    def calibration_inputs(self, context: CycleContext) -> torch.Tensor:
        if context.calibration_data is None:
            raise ConfigError(f"{self.name} needs calibration data; the loop provided none.")
        x, _ = context.calibration_data()
        return x

    def phases(self, cycle: int, model: nn.Module) -> list[Phase]:
        return []

    def width(self, model: nn.Module) -> int:
        return sum(int(torch.count_nonzero(p)) for p in model.parameters())

    def planned_widths(self, model: nn.Module) -> list[int]:
        return [0]

    def finished(self, model: nn.Module, cycle: int) -> bool:
        return self.done

    def state_dict(self) -> dict[str, Any]:
        return {"done": self.done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.done = bool(state.get("done", False))
