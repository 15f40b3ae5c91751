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

This module and the built-in scorers' settings (``settings``, imported at the end) load no
torch, so the command line lists the scorers and checks their settings before torch loads; each
built-in's ``score`` lives in its own module (``dtc``, ``magnitude``, ``random``,
``data_aware``), named by its registration and imported on first use. ``GroupWeights`` and
``ScoringContext`` (``context``, torch) are imported from here on first use as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, ClassVar

from tomoprune.plugins import PluginRegistry, Settings

if TYPE_CHECKING:
    import numpy as np

    from tomoprune.methods.neuron.scoring.context import GroupWeights, ScoringContext


@dataclass(frozen=True)
class ScoreResult:
    scores: np.ndarray | None  # (width,) or None when ``keep`` is given
    keep: np.ndarray | None = None  # sorted unit indices chosen by the scorer itself
    objective: float | None = None  # e.g. total l1 objective of the CS solves
    measurements: dict[str, Any] | None = None  # per-cycle record payload (DTC)
    info: dict[str, Any] | None = None  # extra cycles.csv columns


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
        return self.run_implementation("score", weights, ctx)


SCORERS: PluginRegistry[UnitScorer] = PluginRegistry("unit scorer")


def __getattr__(name: str) -> Any:
    """``GroupWeights`` and ``ScoringContext`` (torch), imported on first use."""
    if name in ("GroupWeights", "ScoringContext"):
        return getattr(import_module("tomoprune.methods.neuron.scoring.context"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# the built-in scorers' settings register themselves on import (torch-free)
from tomoprune.methods.neuron.scoring import settings  # noqa: E402, F401
