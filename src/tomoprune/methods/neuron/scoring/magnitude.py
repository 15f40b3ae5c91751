"""Magnitude scoring: the signed sum of a unit's incoming and outgoing weights (DTC paper)."""

from __future__ import annotations

from dataclasses import dataclass

from tomoprune.methods.neuron.scoring import (
    SCORERS,
    GroupWeights,
    ScoreResult,
    ScoringContext,
    UnitScorer,
)


@SCORERS.register("magnitude", summary="signed sum of incoming and outgoing weights")
@dataclass(frozen=True, kw_only=True)
class Magnitude(UnitScorer):
    """score[j] = a_in[j] + a_out[j] (the group's weight rays), in the weights' own precision."""

    def score(self, weights: GroupWeights, ctx: ScoringContext) -> ScoreResult:
        a_in, a_out = weights.rays()
        return ScoreResult(scores=(a_in + a_out).cpu().double().numpy())
