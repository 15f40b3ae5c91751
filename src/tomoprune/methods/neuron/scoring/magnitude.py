"""Magnitude scoring: the signed sum of a unit's incoming and outgoing weights (DTC paper).

The work ``Magnitude.score`` does (the settings are in ``settings``).
"""

from __future__ import annotations

from tomoprune.methods.neuron.scoring import ScoreResult
from tomoprune.methods.neuron.scoring.context import GroupWeights, ScoringContext
from tomoprune.methods.neuron.scoring.settings import Magnitude


def magnitude_scores(
    settings: Magnitude, weights: GroupWeights, ctx: ScoringContext
) -> ScoreResult:
    """score[j] = a_in[j] + a_out[j] (the group's weight rays), in the weights' own precision."""
    a_in, a_out = weights.rays()
    return ScoreResult(scores=(a_in + a_out).cpu().double().numpy())
