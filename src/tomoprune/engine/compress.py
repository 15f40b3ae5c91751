"""THE train-compress loop. Every method runs through ``CompressionLoop``.

Each cycle: train (the method's phases, extended by hooks), compress (the method), evaluate the
compressed model before any further training, append a record row, and checkpoint. A run that
is interrupted continues from its last finished cycle and produces the same records.

The loop writes no file itself: a ``RunRecorder`` (``tomoprune.records.writer``, the one writer
of the run record format) observes it: ``started``, ``cycle_finished`` after each cycle and
``stopped`` with the run's status ("finished", "stopped" by ``max_cycles``, "interrupted" by
Ctrl-C, "failed" by an error) however the loop ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from tomoprune.accounting import count_flops
from tomoprune.data.task import Task
from tomoprune.engine.batches import BatchStream
from tomoprune.engine.method import CompressionMethod, CycleContext
from tomoprune.engine.progress import Reporter
from tomoprune.engine.train import evaluate, make_criterion, make_optimizer, train_phase
from tomoprune.errors import UnsupportedModelError
from tomoprune.models.layout import apply_memory_format
from tomoprune.models.spec import build_from_spec, describe
from tomoprune.records.writer import RunRecorder
from tomoprune.structure.removal import (
    Removal,
    RemovalRecord,
    apply_record,
    slice_parameter_state,
)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, non-zero) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    nonzero = sum(int(torch.count_nonzero(p)) for p in model.parameters())
    return total, nonzero


def carry_optimizer(
    optimizer: torch.optim.Optimizer,
    old_model: nn.Module,
    new_model: nn.Module,
    removal: Removal,
    train: Any,
    device: torch.device,
) -> torch.optim.Optimizer:
    """A new Adam over ``new_model`` whose moments are the old ones, sliced like the weights."""
    names = {id(p): n for n, p in old_model.named_parameters()}
    old_state = {names[id(p)]: dict(optimizer.state[p]) for p in optimizer.state if id(p) in names}
    sliced = slice_parameter_state(old_model, removal, old_state)
    fresh = make_optimizer(new_model, train.lr, device, train.adam)
    for name, param in new_model.named_parameters():
        if name in sliced:
            fresh.state[param] = sliced[name]
    return fresh


@dataclass
class LoopResult:
    model: nn.Module
    rows: list[dict[str, Any]]
    phases: list[dict[str, Any]]
    measurements: list[dict[str, Any]]
    seconds: float
    resumed_from: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    status: str = "finished"
    summary: dict[str, Any] | None = None


class CompressionLoop:
    """Runs ``method`` on ``model`` and ``task`` until the method says it is finished."""

    def __init__(
        self,
        *,
        model: nn.Sequential,
        method: CompressionMethod,
        task: Task,
        train: Any,  # config.TrainConfig
        device: torch.device,
        recorder: RunRecorder | None = None,
        reporter: Reporter | None = None,
        max_cycles: int | None = None,
        seed: int = 0,
        stream: BatchStream | None = None,
        measure: Callable[[nn.Module, torch.Tensor], dict[str, Any]] | None = None,
    ) -> None:
        self.train = train
        self.model = self._laid_out(model.to(device))
        # extra per-cycle columns measured on the compressed model (e.g. FLOPs and latency):
        # measure(model, example_inputs) -> {column: value}
        self.measure = measure
        self.example_inputs = task.train_x[:1]
        # kept units of every group relative to the initial model, over all cycles so far
        self.removal_record = RemovalRecord()
        # methods that trace the model's unit groups need a batch the model accepts
        if method.example_inputs is None:
            method.prepare(self.model, self.example_inputs)
        self.method = method
        self.task = task
        self.device = device
        self.recorder = recorder
        self.reporter = reporter or Reporter()
        self.max_cycles = max_cycles
        self.criterion = make_criterion(task.kind, train.log_softmax_dim)
        # any object with BatchStream's methods may replace the in-memory stream (benchmarks
        # use a per-sample DataLoader pipeline this way)
        self.stream = stream or BatchStream(
            task.train_x,
            task.train_y,
            batch_size=train.batch_size,
            shuffle=train.shuffle,
            restart_each_cycle=train.restart_batches_each_cycle,
            seed=train.data_seed,
        )
        self.torch_generator = torch.Generator().manual_seed(seed)
        self.numpy_rng = np.random.default_rng(seed)
        self.optimizer: torch.optim.Optimizer | None = None
        self.initial_units: int | None = None
        self.rows: list[dict[str, Any]] = []
        self.phase_rows: list[dict[str, Any]] = []
        self.measurements: list[dict[str, Any]] = []
        self.cycle = 0

    def _laid_out(self, model: nn.Module) -> nn.Module:
        """The model with its convolution weights in the configured memory format."""
        return apply_memory_format(model, getattr(self.train, "memory_format", "channels_last"))

    # -- evaluation helpers ------------------------------------------------------------
    def _evaluate(self, x: torch.Tensor, y: torch.Tensor):
        return evaluate(
            self.model,
            x,
            y,
            kind=self.task.kind,
            batch_size=self.train.eval_batch_size,
            log_softmax_dim=self.train.log_softmax_dim,
            accuracy_mode=self.train.accuracy,
        )

    def calibration_loss(self, model: nn.Module) -> float:
        x, y = self.task.calibration
        return evaluate(
            model,
            x,
            y,
            kind=self.task.kind,
            batch_size=self.train.eval_batch_size,
            log_softmax_dim=self.train.log_softmax_dim,
            accuracy_mode=self.train.accuracy,
        ).loss

    def _sample_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        n = min(self.train.batch_size, self.task.train_x.shape[0])
        return self.task.train_x[:n], self.task.train_y[:n]

    def _units(self, model: nn.Module) -> int:
        width = self.method.width(model)
        return count_parameters(model)[0] if width is None else int(width)

    # -- one cycle ----------------------------------------------------------------------
    def run_cycle(self) -> dict[str, Any]:
        self.cycle += 1
        cycle = self.cycle
        self.stream.start_cycle()
        train_seconds, losses, steps = 0.0, [], 0
        for phase in self.method.phases(cycle, self.model):
            if self.optimizer is None or phase.fresh_optimizer:
                self.optimizer = make_optimizer(
                    self.model, self.train.lr, self.device, self.train.adam
                )
            self.reporter.start_phase(cycle, phase.name, phase.max_steps)
            result = train_phase(
                self.model,
                phase,
                stream=self.stream,
                optimizer=self.optimizer,
                criterion=self.criterion,
                validation_loss=self.calibration_loss,
                on_step=self.reporter.step,
            )
            train_seconds += result.seconds
            steps += result.steps
            losses.append((result.mean_loss, result.steps))
            self.phase_rows.append(
                {
                    "cycle": cycle,
                    "phase": result.name,
                    "steps": result.steps,
                    "mean_loss": result.mean_loss,
                    "stopped_by": result.stopped_by,
                    "seconds": result.seconds,
                    "validation_curve": ";".join(
                        f"{s}:{v:.6g}" for s, v in result.validation_curve
                    ),
                    **{f"metric_{k}": v for k, v in result.metrics.items()},
                }
            )
        started = time.perf_counter()
        context = CycleContext(
            cycle=cycle,
            device=self.device,
            calibration_loss=self.calibration_loss,
            sample_batch=self._sample_batch,
            torch_generator=self.torch_generator,
            numpy_rng=self.numpy_rng,
            calibration_data=lambda: self.task.calibration,
        )
        outcome = self.method.compress(self.model, context)
        prune_seconds = time.perf_counter() - started
        new_model = self._laid_out(outcome.model.to(self.device))
        if new_model is not self.model:
            if outcome.removal is not None and self.optimizer is not None:
                self.optimizer = carry_optimizer(
                    self.optimizer,
                    self.model,
                    new_model,
                    outcome.removal,
                    self.train,
                    self.device,
                )
            elif _shapes(new_model) != _shapes(self.model):
                self.optimizer = None
            else:
                self.optimizer = _rebind(
                    self.optimizer, self.model, new_model, self.train, self.device
                )
        if outcome.removal is not None:
            self.removal_record.add(outcome.removal)
        self.model = new_model
        evaluation = self._evaluate(self.task.test_x, self.task.test_y)
        total, nonzero = count_parameters(self.model)
        units = self._units(self.model)
        weighted_loss = sum(loss * n for loss, n in losses) / max(steps, 1)
        row = {
            "cycle": cycle,
            "width": units,
            "sparsity": 1.0 - units / self.initial_units,
            "parameters": total,
            "nonzero_parameters": nonzero,
            "test_accuracy": evaluation.accuracy,
            "test_loss": evaluation.loss,
            "train_loss": weighted_loss,
            "train_steps": steps,
            "train_seconds": train_seconds,
            "prune_seconds": prune_seconds,
            "solver_objective": outcome.solver_objective,
            **outcome.row,
            # FLOPs of one forward of one sample of the model after this cycle (accounting.py)
            "flops": count_flops(self.model, self.example_inputs.to(self.device))[0],
        }
        if self.measure is not None:
            row.update(self.measure(self.model, self.example_inputs))
        self.rows.append(row)
        if outcome.measurements is not None:
            self.measurements.append({"cycle": cycle, **outcome.measurements})
        self._persist()
        self.reporter.end_cycle(row)
        return row

    def run(self) -> LoopResult:
        started = time.perf_counter()
        resumed_from = self.cycle
        if self.initial_units is None:
            self.initial_units = self._units(self.model)
        planned = self.method.planned_widths(self.model)
        total = None if planned is None else len(planned) + self.cycle
        self.reporter.start(f"{self.method.name}", total)
        if self.recorder is not None:
            self.recorder.started(self)
        status, summary = "failed", None
        try:
            while not (self.cycle and self.method.finished(self.model, self.cycle)):
                if self.max_cycles is not None and self.cycle >= self.max_cycles:
                    break
                self.run_cycle()
            done = bool(self.cycle) and self.method.finished(self.model, self.cycle)
            status = "finished" if done else "stopped"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            self.reporter.stop()
            if self.recorder is not None:
                summary = self.recorder.stopped(self, self.model, status)
        return LoopResult(
            model=self.model,
            rows=self.rows,
            phases=self.phase_rows,
            measurements=self.measurements,
            seconds=time.perf_counter() - started,
            resumed_from=resumed_from,
            status=status,
            summary=summary,
        )

    # -- records and checkpoints -------------------------------------------------------
    def _persist(self) -> None:
        if self.recorder is not None:
            self.recorder.cycle_finished(self)

    def state_dict(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "initial_units": self.initial_units,
            "model_spec": _spec_or_none(self.model),
            "removal": self.removal_record.to_json(),
            "model_state": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": None if self.optimizer is None else self.optimizer.state_dict(),
            "stream": self.stream.state_dict(),
            "method": self.method.state_dict(),
            "torch_generator": self.torch_generator.get_state(),
            "numpy_rng": self.numpy_rng.bit_generator.state,
            "rows": self.rows,
            "phases": self.phase_rows,
            "measurements": self.measurements,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.cycle = int(state["cycle"])
        self.initial_units = state["initial_units"]
        record = (
            RemovalRecord.from_json(state["removal"]) if state.get("removal") else RemovalRecord()
        )
        if state["model_spec"] is not None:
            model = build_from_spec(state["model_spec"])
        else:  # the initial model (as built for this run) with the recorded removal
            model = apply_record(self.model, self.example_inputs, record)
        model.load_state_dict(state["model_state"])
        self.removal_record = record
        self.model = self._laid_out(model.to(self.device))
        self.optimizer = None
        if state["optimizer"] is not None:
            self.optimizer = make_optimizer(self.model, self.train.lr, self.device, self.train.adam)
            self.optimizer.load_state_dict(state["optimizer"])
        self.stream.load_state_dict(state["stream"])
        self.method.load_state_dict(state["method"])
        self.torch_generator.set_state(state["torch_generator"])
        self.numpy_rng.bit_generator.state = state["numpy_rng"]
        self.rows = list(state["rows"])
        self.phase_rows = list(state["phases"])
        self.measurements = list(state["measurements"])


def _spec_or_none(model: nn.Module) -> list[dict[str, Any]] | None:
    """The Sequential layer spec, or None for other models (rebuilt from the removal record)."""
    if not isinstance(model, nn.Sequential):
        return None
    try:
        return describe(model)
    except UnsupportedModelError:
        return None


def _shapes(model: nn.Module) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in model.parameters()]


def _rebind(
    optimizer: torch.optim.Optimizer | None,
    old_model: nn.Module,
    new_model: nn.Module,
    train: Any,
    device: torch.device,
) -> torch.optim.Optimizer | None:
    """Same shapes, new tensors (e.g. a masked copy): move the optimizer state across."""
    if optimizer is None:
        return None
    fresh = make_optimizer(new_model, train.lr, device, train.adam)
    for old, new in zip(old_model.parameters(), new_model.parameters(), strict=True):
        if old in optimizer.state:
            fresh.state[new] = dict(optimizer.state[old])
    return fresh
