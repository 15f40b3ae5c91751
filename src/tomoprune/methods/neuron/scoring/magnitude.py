"""Magnitude scoring: the signed sum of a unit's incoming and outgoing weights (DTC paper)."""

from __future__ import annotations

from tomoprune.methods.neuron.scoring import (
    SCORER_REGISTRY,
    GroupWeights,
    ScoreResult,
    ScoringContext,
)


@SCORER_REGISTRY.register("magnitude")
def magnitude_scores(weights: GroupWeights, ctx: ScoringContext) -> ScoreResult:
    """score[j] = a_in[j] + a_out[j] (the group's weight rays), in the weights' own precision."""
    a_in, a_out = weights.rays()
    return ScoreResult(scores=(a_in + a_out).cpu().double().numpy())
