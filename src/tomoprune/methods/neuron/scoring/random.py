"""Random pruning: keep ``keep_count`` units drawn uniformly without replacement.

The published run re-seeds numpy's legacy generator with the same seed before every draw
(``reseed_each_cycle``); the corrected profile draws from one seeded generator that continues
across cycles.
"""

from __future__ import annotations

import numpy as np
import torch

from tomoprune.methods.neuron.scoring import SCORER_REGISTRY, ScoreResult, ScoringContext


@SCORER_REGISTRY.register("random")
def random_keep(w_in: torch.Tensor, w_out: torch.Tensor, ctx: ScoringContext) -> ScoreResult:
    units = w_in.shape[0]
    params = ctx.params
    if params.reseed_each_cycle:
        rng = np.random.RandomState(params.seed)
        chosen = rng.choice(units, ctx.keep_count, replace=False)
    else:
        rng = ctx.numpy_state.setdefault("random", np.random.default_rng(params.seed))
        chosen = rng.choice(units, ctx.keep_count, replace=False)
    return ScoreResult(scores=None, keep=np.sort(chosen))
