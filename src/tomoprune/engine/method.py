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
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from tomoprune.engine.hooks import TrainingHook


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


class CompressionMethod(Protocol):
    """A plug-in of the train-compress loop."""

    name: str

    def phases(self, cycle: int, model: nn.Module) -> list[Phase]:
        """Training to run in ``cycle`` (1-based) before compressing."""
        ...

    def compress(self, model: nn.Module, context: CycleContext) -> CompressionOutcome: ...

    def finished(self, model: nn.Module, cycle: int) -> bool:
        """True once no further cycle should run (checked after each cycle)."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
