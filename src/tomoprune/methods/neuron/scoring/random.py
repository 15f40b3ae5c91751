"""Random pruning: keep ``keep_count`` units drawn uniformly without replacement.

The published run re-seeds numpy's legacy generator with the same seed before every draw
(``reseed_each_cycle``); the corrected profile draws from one seeded generator per group that
continues across cycles. Under global selection (no ``keep_count``) every unit gets a uniform
random score instead, which ranks the units of all groups in a uniformly random order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tomoprune.methods.neuron.scoring import (
    SCORERS,
    GroupWeights,
    ScoreResult,
    ScoringContext,
    UnitScorer,
)


@SCORERS.register("random", summary="units kept uniformly at random (baseline)")
@dataclass(frozen=True, kw_only=True)
class Random(UnitScorer):
    """Keeps ``keep_count`` units drawn from the group's own stream (``ctx.rng``)."""

    def score(self, weights: GroupWeights, ctx: ScoringContext) -> ScoreResult:
        rng = ctx.rng("random")
        if ctx.keep_count is None:
            return ScoreResult(scores=rng.random(weights.width))
        chosen = rng.choice(weights.width, ctx.keep_count, replace=False)
        return ScoreResult(scores=None, keep=np.sort(chosen))
