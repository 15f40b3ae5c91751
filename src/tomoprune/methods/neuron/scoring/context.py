"""What a unit scorer is given: the group's weights (``GroupWeights``) and the run's context
(``ScoringContext``: how many units stay, the group's own random stream, calibration data).

The contract is written once, in ``tomoprune.methods.neuron.scoring``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from tomoprune.structure.groups import UnitGroup, find_groups
from tomoprune.structure.weights import incoming_matrix, outgoing_matrix, weight_rays


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
