"""Unit scorers for structured pruning: one small module each, registered by name.

Contract (written once, here): a scorer looks at one unit group (``GroupWeights``: the group and
the model holding its weights) and returns one score per unit (shape ``(width,)``); the
method's keep rule then decides by ``|score|`` (larger is kept). A scorer may instead choose
the kept units itself (``ScoreResult.keep``) when the context gives a ``keep_count``, as random
pruning does. A group's weight rays (``GroupWeights.rays``) are the signed sums of each unit's
incoming weights over all its producers and of its outgoing weights over all its consumers;
``incoming``/``outgoing`` give the whole per-unit weight matrices.

A scorer is a plug-in object (``tomoprune.plugins``): a frozen dataclass of its own settings
that subclasses ``UnitScorer``, implements ``score`` and is registered once in ``SCORERS``::

    @SCORERS.register("magnitude", summary="signed sum of incoming and outgoing weights")
    @dataclass(frozen=True, kw_only=True)
    class Magnitude(UnitScorer):
        def score(self, weights, ctx): ...

Registering it is all it takes: ``Compressor(model, x, scorer=Magnitude())``, the Torch-Pruning
importance, and ``tomoprune run --method magnitude`` (its settings under ``method.*``) all find it.
The built-in scorers are imported at the end of this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from tomoprune.plugins import PluginRegistry, Settings
from tomoprune.structure.groups import UnitGroup, find_groups
from tomoprune.structure.weights import incoming_matrix, outgoing_matrix, weight_rays


@dataclass(frozen=True)
class ScoreResult:
    scores: np.ndarray | None  # (width,) or None when ``keep`` is given
    keep: np.ndarray | None = None  # sorted unit indices chosen by the scorer itself
    objective: float | None = None  # e.g. total l1 objective of the CS solves
    measurements: dict[str, Any] | None = None  # per-cycle record payload (DTC)
    info: dict[str, Any] | None = None  # extra cycles.csv columns


@dataclass(frozen=True)
class GroupWeights:
    """One unit group and the model whose tensors hold its weights."""

    model: nn.Module
    group: UnitGroup

    @property
    def width(self) -> int:
        return self.group.width

    @property
    def name(self) -> str:
        return self.group.name

    def rays(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(a_in, a_out)``, each ``(width,)``, in the weights' dtype."""
        return weight_rays(self.model, self.group)

    def incoming(self) -> torch.Tensor:
        """``(width, fan_in)`` incoming weights over all producers."""
        return incoming_matrix(self.model, self.group)

    def outgoing(self) -> torch.Tensor:
        """``(width, fan_out)`` outgoing weights over all consumers."""
        return outgoing_matrix(self.model, self.group)

    @classmethod
    def between(cls, w_in: torch.Tensor, w_out: torch.Tensor) -> GroupWeights:
        """The hidden layer between ``w_in`` (width x inputs) and ``w_out`` (outputs x width)."""
        width, fan_in = w_in.shape
        first = nn.Linear(fan_in, width, bias=False).to(w_in.dtype)
        second = nn.Linear(width, w_out.shape[0], bias=False).to(w_out.dtype)
        with torch.no_grad():
            first.weight.copy_(w_in)
            second.weight.copy_(w_out)
        model = nn.Sequential(first, second)
        (group,) = find_groups(model, torch.zeros(1, fan_in, dtype=w_in.dtype))
        return cls(model, group)


@dataclass(frozen=True)
class ScoringContext:
    """What a scorer may use beyond the weights: how many units to keep, and randomness.

    ``keep_count`` is None under global selection (the scorer must return scores then).
    ``params`` are the run's pruning settings (``seed``, ``reseed_each_cycle``, the schedule).
    ``calibration`` returns a batch ``(inputs, targets)`` on the model's device for scorers
    that need data (``UnitScorer.needs_data``); None when the caller has none.
    ``group_index`` is the group's position in the model's group order: group 0 draws from
    the method's seed, group ``i`` from ``seed + i``, each from its own stream, so a group's
    draws do not depend on which other groups are scored or in which order.
    """

    cycle: int
    keep_count: int | None
    params: Any  # the method's params dataclass
    numpy_state: dict[str, Any]  # mutable per-run random state owned by the method
    group_index: int = 0
    group_name: str = ""
    calibration: Callable[[], tuple[Any, Any]] | None = None

    def rng(self, kind: str) -> np.random.Generator | np.random.RandomState:
        """This group's random stream for ``kind`` ("sensing", "random", ...).

        With ``params.reseed_each_cycle`` (the published run) numpy's legacy generator is
        re-seeded on every call; otherwise one generator per group continues across cycles.
        """
        seed = self.params.seed + self.group_index
        if self.params.reseed_each_cycle:
            return np.random.RandomState(seed)
        key = kind if self.group_index == 0 else f"{kind}/{self.group_name}"
        return self.numpy_state.setdefault(key, np.random.default_rng(seed))


class UnitScorer(Settings):
    """Base of every unit scorer: its settings are the dataclass fields, ``score`` the method.

    Contract: ``score(weights, ctx)`` returns one score per unit of ``weights.group`` (larger
    |score| is kept), or the kept units themselves (``ScoreResult.keep``) when
    ``ctx.keep_count`` is given. Randomness comes from ``ctx.rng(kind)`` only, so a group's draws
    are reproducible and independent of the other groups. A scorer that needs data sets
    ``needs_data = True`` and reads batches from ``ctx.calibration()``.
    """

    needs_data: ClassVar[bool] = False

    def score(self, weights: GroupWeights, ctx: ScoringContext) -> ScoreResult:
        raise NotImplementedError(f"{type(self).__name__} must implement score()")


SCORERS: PluginRegistry[UnitScorer] = PluginRegistry("unit scorer")

# the built-in scorers register themselves on import
from tomoprune.methods.neuron.scoring import dtc, magnitude, random  # noqa: E402, F401
