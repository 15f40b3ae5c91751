"""Random pruning: keep ``keep_count`` units drawn uniformly without replacement.

The published run re-seeds numpy's legacy generator with the same seed before every draw
(``reseed_each_cycle``); the corrected profile draws from one seeded generator per group that
continues across cycles. Under global selection (no ``keep_count``) every unit gets a uniform
random score instead, which ranks the units of all groups in a uniformly random order.
The work ``Random.score`` does (the settings are in ``settings``).
"""

from __future__ import annotations

import numpy as np

from tomoprune.methods.neuron.scoring import ScoreResult
from tomoprune.methods.neuron.scoring.context import GroupWeights, ScoringContext
from tomoprune.methods.neuron.scoring.settings import Random


def random_scores(settings: Random, weights: GroupWeights, ctx: ScoringContext) -> ScoreResult:
    """``keep_count`` units drawn from the group's own stream (``ctx.rng``), or uniform scores."""
    rng = ctx.rng("random")
    if ctx.keep_count is None:
        return ScoreResult(scores=rng.random(weights.width))
    chosen = rng.choice(weights.width, ctx.keep_count, replace=False)
    return ScoreResult(scores=None, keep=np.sort(chosen))
