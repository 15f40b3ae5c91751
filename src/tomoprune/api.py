"""Compress your own PyTorch model, with your own training loop, in a few lines.

::

    from tomoprune import Compressor, Schedule

    compressor = Compressor(model, example_inputs=x[:1], scorer="dtc", schedule=Schedule(fraction=0.2))
    for epoch in range(epochs):
        train_one_epoch(compressor.model, optimizer)       # your code
        step = compressor.step(optimizer)                  # score, remove, slice Adam's moments
        optimizer = step.optimizer                         # same optimizer, over the smaller model
    compressor.save("compressed/")                         # safetensors + JSON removal record

``step()`` scores the units of every unit group of the model (``tomoprune.structure``) with the
named scorer, removes them physically and returns the smaller model, its record row and the
optimizer carried over. ``fit()`` runs tomoprune's own train-compress loop instead when you pass
data. ``load_compressed(original, example_inputs, directory)`` rebuilds the saved model exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from tomoprune import config as cfg
from tomoprune.config import TrainConfig
from tomoprune.data.task import Task
from tomoprune.engine.compress import CompressionLoop
from tomoprune.engine.method import CycleContext
from tomoprune.errors import ConfigError
from tomoprune.huggingface import rewrite_config
from tomoprune.methods.neuron.method import NeuronPruning
from tomoprune.methods.neuron.scoring import UnitScorer
from tomoprune.methods.neuron.settings import method_params
from tomoprune.models import build_model
from tomoprune.records.writer import RunRecorder, build_header
from tomoprune.structure import RemovalRecord, UnitGroup
from tomoprune.structure.attention import find_attention
from tomoprune.structure.removal import Removal, slice_parameter_state
from tomoprune.structure.saved import load_compressed, read_removal, save_compressed

__all__ = ["Compressor", "Schedule", "StepResult", "load_compressed", "load_run_model"]


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """How much to remove per step and where to stop.

    ``fraction`` of each group's units go per step (``selection="per_group"``) or of all
    selected units together, lowest |score| first (``"global"``); a group stops shrinking at
    ``min_width``. ``groups`` is "all" or a list of group names (see ``Compressor.groups``).
    """

    fraction: float = 0.1
    min_width: int = 10
    groups: str | Sequence[str] = "all"
    selection: Literal["per_group", "global"] = "per_group"
    keep_rule: Literal["largest", "below_quantile"] = "largest"


@dataclass
class StepResult:
    """One compression step: the smaller model, its record row, the carried optimizer."""

    model: nn.Module
    row: dict[str, Any]
    optimizer: torch.optim.Optimizer | None
    removal: Removal
    finished: bool


def carry_optimizer(
    optimizer: torch.optim.Optimizer, old: nn.Module, new: nn.Module, removal: Removal
) -> torch.optim.Optimizer:
    """The same optimizer class and settings over ``new``; per-parameter state sliced like the
    weights (Adam's moments value by value), scalar state (``step``) kept."""
    names = {id(p): n for n, p in old.named_parameters()}
    params = dict(new.named_parameters())
    groups = [
        {
            **{k: v for k, v in g.items() if k != "params"},
            "params": [params[names[id(p)]] for p in g["params"] if id(p) in names],
        }
        for g in optimizer.param_groups
    ]
    fresh = type(optimizer)(groups)
    state = {names[id(p)]: dict(s) for p, s in optimizer.state.items() if id(p) in names}
    for name, entry in slice_parameter_state(old, removal, state).items():
        fresh.state[params[name]] = entry
    return fresh


def _unused(*_: Any) -> Any:
    raise RuntimeError("this scorer needs data; use Compressor.fit or the CLI")


class Compressor:
    """Structured compression of any ``nn.Module`` by unit groups.

    Parameters
    ----------
    model : nn.Module
        Your model (it is not modified; ``compressor.model`` is the current compressed copy).
    example_inputs : Tensor or tuple of Tensors
        One batch the model accepts, used to trace its unit groups.
    scorer : UnitScorer or str
        A scorer object (``DTC(lam=0.3)``, ``Magnitude()``, ``Random()``, any registered
        ``UnitScorer``) or its name ("dtc", "magnitude", "random").
    schedule : Schedule
        How much to remove per step, which groups, where to stop.
    ignored_layers : sequence of nn.Module
        Layers (of ``model``) whose units must stay, and layers unit groups cannot handle.
    evaluate : callable, optional
        ``evaluate(model) -> dict`` of numbers (e.g. test accuracy) added to every row.
    calibration : (inputs, targets) or callable returning it, optional
        Batches for data-aware scorers (``taylor``, ``activation``); inputs a tensor or a dict
        of keyword inputs.
    **scorer_params
        With a scorer name: its settings (``lam``, ``measurement_fraction``, ``solver``, ...);
        with either: ``seed`` and ``reseed_each_cycle`` of the method's random draws.
    """

    def __init__(
        self,
        model: nn.Module,
        example_inputs: Any,
        *,
        scorer: str | UnitScorer = "dtc",
        schedule: Schedule | None = None,
        ignored_layers: Sequence[nn.Module] = (),
        evaluate: Callable[[nn.Module], dict[str, Any]] | None = None,
        calibration: Any = None,
        **scorer_params: Any,
    ) -> None:
        schedule = schedule or Schedule()
        groups = schedule.groups if isinstance(schedule.groups, str) else ",".join(schedule.groups)
        settings = {**dataclasses.asdict(schedule), "groups": groups, **scorer_params}
        name, params = method_params(scorer, **settings)
        self.method = NeuronPruning(name, params, train_config=None)
        self.method.prepare(model, example_inputs, ignored_layers)
        if calibration is not None:
            self.method.calibration = (
                calibration if callable(calibration) else (lambda: tuple(calibration))
            )
        self.model = model
        self.example_inputs = example_inputs
        self.evaluate = evaluate
        self.record = RemovalRecord()
        self.rows: list[dict[str, Any]] = []
        self.measurements: list[dict[str, Any]] = []
        self.initial_width = self.method.width(model)
        self._original_groups = [g.describe() for g in self.groups]
        self._attention = find_attention(model)

    @property
    def groups(self) -> list[UnitGroup]:
        """The selected unit groups of the current model."""
        return [g for _, g in self.method.groups(self.model)]

    @property
    def finished(self) -> bool:
        """True once every selected group is at or below the schedule's ``min_width``."""
        return self.method.finished(self.model, len(self.rows))

    def step(self, optimizer: torch.optim.Optimizer | None = None) -> StepResult:
        """Score, remove and return the smaller model (also kept as ``self.model``)."""
        cycle = len(self.rows) + 1
        if self.finished:
            return StepResult(self.model, {}, optimizer, Removal({}, {}, {}), True)
        device = next(self.model.parameters()).device
        context = CycleContext(
            cycle=cycle,
            device=device,
            calibration_loss=_unused,
            sample_batch=_unused,
            torch_generator=torch.Generator(),
            numpy_rng=np.random.default_rng(0),
        )
        outcome = self.method.compress(self.model, context)
        new = outcome.model
        if optimizer is not None:
            optimizer = carry_optimizer(optimizer, self.model, new, outcome.removal)
        self.record.add(outcome.removal)
        self.model = new
        width = self.method.width(new)
        row = {
            "cycle": cycle,
            "width": width,
            "sparsity": 1.0 - width / self.initial_width,
            "parameters": sum(p.numel() for p in new.parameters()),
            **{f"width_{name}": w for name, w in self.method.widths(new).items()},
            "solver_objective": outcome.solver_objective,
            **outcome.row,
        }
        if self.evaluate is not None:
            row.update(self.evaluate(new))
        self.rows.append(row)
        if outcome.measurements is not None:
            self.measurements.append({"cycle": cycle, **outcome.measurements})
        return StepResult(new, row, optimizer, outcome.removal, self.finished)

    def fit(
        self,
        train_x: torch.Tensor,
        train_y: torch.Tensor,
        test_x: torch.Tensor,
        test_y: torch.Tensor,
        *,
        steps_per_cycle: int = 200,
        batch_size: int = 512,
        lr: float = 1e-3,
        max_cycles: int | None = None,
        run_dir: str | Path | None = None,
        seed: int = 0,
    ) -> list[dict[str, Any]]:
        """Train and compress with tomoprune's own loop (Adam, moments carried); the rows."""
        train = TrainConfig(batch_size=batch_size, steps_per_cycle=steps_per_cycle, lr=lr)
        self.method.train = train
        device = next(self.model.parameters()).device
        task = Task(
            name="user",
            train_x=train_x,
            train_y=train_y,
            test_x=test_x,
            test_y=test_y,
            input_shape=tuple(train_x.shape[1:]),
            num_outputs=int(train_y.max()) + 1,
        )
        loop = CompressionLoop(
            model=self.model,
            method=self.method,
            task=task,
            train=train,
            device=device,
            recorder=None if run_dir is None else RunRecorder(run_dir, self._header(train)),
            max_cycles=max_cycles,
            seed=seed,
        )
        loop.removal_record = self.record
        result = loop.run()
        self.model = result.model
        self.rows += result.rows
        self.measurements += result.measurements
        if run_dir is not None:
            self.save(run_dir)
        return result.rows

    def _header(self, train: Any) -> dict[str, Any]:
        """``config.json`` of a run directory written by ``fit`` (readable by ``analyze``)."""
        return build_header(
            method=self.method.name,
            profile="api",
            config={
                "params": dataclasses.asdict(self.method.params),
                "train": dataclasses.asdict(train),
                "groups": self._original_groups,
            },
            seeds={"method_seed": self.method.params.seed},
        )

    def save(self, directory: str | Path, architecture: dict[str, Any] | None = None) -> Path:
        """Write ``model.safetensors`` and ``removal.json`` (no pickle) into ``directory``."""
        return save_compressed(
            self.model,
            directory,
            self.record,
            architecture=architecture,
            groups=self._original_groups,
        )

    def pretrained(self) -> nn.Module:
        """The compressed Hugging Face model with its config rewritten (head counts or
        ``pruned_heads``, MLP width), ready for ``save_pretrained``; see ``tomoprune.huggingface``."""
        return rewrite_config(self.model, self.record, self._attention)


def load_run_model(run_dir: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """The final model of a ``tomoprune run`` directory, rebuilt from its own architecture
    (the built-in model it names), the recorded removal and the saved weights."""
    _, architecture = read_removal(run_dir)
    if not architecture:
        raise ConfigError(
            f"{run_dir}: the record names no built-in architecture; build your original model "
            "and call load_compressed(model, example_inputs, directory)."
        )
    model_config = cfg.ModelConfig(**architecture["model"])
    shape = tuple(architecture["input_shape"])
    original = build_model(model_config, shape, architecture["num_outputs"], torch.Generator())
    return load_compressed(original, torch.zeros(1, *shape), run_dir, device=device)
