"""Magnitude scoring: the signed sum of a unit's incoming and outgoing weights (DTC paper)."""

from __future__ import annotations

import torch

from tomoprune.methods.neuron.scoring import (
    SCORER_REGISTRY,
    ScoreResult,
    ScoringContext,
    weight_rays,
)


@SCORER_REGISTRY.register("magnitude")
def magnitude_scores(w_in: torch.Tensor, w_out: torch.Tensor, ctx: ScoringContext) -> ScoreResult:
    """score[j] = sum_i W1[j, i] + sum_k W2[k, j], summed in the weights' own precision."""
    a_in, a_out = weight_rays(w_in, w_out)
    return ScoreResult(scores=(a_in + a_out).cpu().double().numpy())
