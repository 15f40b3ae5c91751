"""Neuron scorers for structured pruning: one small module each, registered by name.

Contract (written once, here): a scorer looks at the hidden layer between an incoming weight
matrix ``w_in`` (units x inputs) and an outgoing one ``w_out`` (outputs x units) and returns one
score per hidden unit (shape ``(units,)``); the keep rule of the pruning method then decides by
``|score|``. A scorer may instead choose the kept units itself (``ScoreResult.keep``), as
random pruning does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tomoprune.registry import Registry


@dataclass(frozen=True)
class ScoreResult:
    scores: np.ndarray | None  # (units,) or None when ``keep`` is given
    keep: np.ndarray | None = None  # sorted unit indices chosen by the scorer itself
    objective: float | None = None  # e.g. total l1 objective of the CS solves
    measurements: dict[str, Any] | None = None  # per-cycle record payload (DTC)
    info: dict[str, Any] | None = None  # extra cycles.csv columns


@dataclass(frozen=True)
class ScoringContext:
    """What a scorer may use beyond the weights: how many units to keep, and randomness."""

    cycle: int
    keep_count: int
    params: Any  # the method's params dataclass
    numpy_state: dict[str, Any]  # mutable per-run random state owned by the method


Scorer = Callable[[torch.Tensor, torch.Tensor, ScoringContext], ScoreResult]
SCORER_REGISTRY: Registry[Scorer] = Registry("scorer")


def load_builtin_scorers() -> None:
    import tomoprune.methods.neuron.scoring.dtc  # noqa: F401
    import tomoprune.methods.neuron.scoring.magnitude  # noqa: F401
    import tomoprune.methods.neuron.scoring.random  # noqa: F401


def weight_rays(w_in: torch.Tensor, w_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The signed sums per hidden unit, in the weights' own dtype.

    Incoming ``a_in[j] = sum_i w_in[j, i]`` and outgoing ``a_out[j] = sum_k w_out[k, j]``. For a
    conv layer a channel's whole kernel counts as its incoming weights, and the columns a
    Flatten spreads one channel over are summed into that channel.
    """
    w_in = w_in.detach().flatten(1)  # (units, fan_in)
    w_out = w_out.detach()
    if w_out.dim() > 2:  # conv -> conv: (out, units, kh, kw) -> (out, units)
        w_out = w_out.flatten(2).sum(dim=2)
    a_in = w_in.sum(dim=1)
    a_out = w_out.sum(dim=0)
    if a_out.shape[0] != a_in.shape[0]:  # conv -> flatten -> linear
        a_out = a_out.reshape(a_in.shape[0], -1).sum(dim=1)
    return a_in, a_out
