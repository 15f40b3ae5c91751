"""tomoprune's unit scorers as a Torch-Pruning importance criterion.

``ScorerImportance(DTC(lam=0.3))`` (or ``ScorerImportance("dtc", lam=0.3)``) can be handed to any Torch-Pruning pruner
(``tp.pruner.BasePruner(model, example_inputs, importance=...)``): for each Torch-Pruning group it
builds the matching ``UnitGroup``, runs the named scorer on it exactly as ``tomoprune`` does
(same weight rays, same per-group random stream, same measurement count) and returns one
number per channel, lower pruned first (the contract of ``tp.importance.Importance``):

- ``ranks=True`` (default): the unit's rank in tomoprune's keep order (largest |score| first,
  ties broken by unit index as tomoprune breaks them). DTC's recovered coefficients are often
  exactly zero for many units, so ties are common; with ranks a Torch-Pruning pruner removes
  exactly the units tomoprune's own loop removes on the same weights and seed.
- ``ranks=False``: ``|score|`` itself, comparable across groups (for global pruning); tied
  units are then ordered by ``torch.topk``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch_pruning as tp

from tomoprune.methods.neuron.scoring import UnitScorer
from tomoprune.methods.neuron.scoring.context import GroupWeights, ScoringContext
from tomoprune.methods.neuron.settings import method_params, scorer_from_params
from tomoprune.structure.groups import from_torch_pruning
from tomoprune.structure.layers import WEIGHTED


class ScorerImportance(tp.importance.Importance):
    """A tomoprune scorer (``"dtc"``, ``"magnitude"``, ``"random"``) as a TP importance.

    Parameters
    ----------
    scorer : str or UnitScorer
        A scorer object (``DTC(lam=0.3)``, ``Magnitude()``, ...) or its registered name.
    ranks : bool
        Return ranks in tomoprune's keep order (exact agreement, per-group pruning) or raw
        ``|score|`` (for global pruning across groups).
    calibration : (inputs, targets) or callable returning it, optional
        Batches for the data-aware scorers (``taylor``, ``activation``).
    **params
        Fields of the scorer's parameter dataclass (e.g. ``lam``, ``measurement_fraction``,
        ``solver``, ``seed``); the defaults are tomoprune's.
    """

    def __init__(
        self,
        scorer: str | UnitScorer = "dtc",
        *,
        ranks: bool = True,
        calibration: Any = None,
        **params: Any,
    ) -> None:
        self.calibration = (
            None
            if calibration is None
            else calibration
            if callable(calibration)
            else (lambda: tuple(calibration))
        )
        self.scorer_name, self.params = method_params(scorer, **params)
        self.scorer = scorer_from_params(self.scorer_name, self.params)
        self.numpy_state: dict[str, Any] = {}
        self.ranks = ranks

    def _index(self, graph: Any, model: torch.nn.Module, name: str) -> int:
        """The group's position in the model's group order (selects its random stream)."""
        groups = [
            g
            for g in (
                from_torch_pruning(t, graph, model)
                for t in graph.get_all_groups(root_module_types=WEIGHTED)
            )
            if g is not None
        ]
        order = {n: i for i, (n, _) in enumerate(model.named_modules())}
        names = sorted((g.name for g in groups), key=order.__getitem__)
        return names.index(name)

    @torch.no_grad()
    def __call__(self, group: Any) -> torch.Tensor:
        graph = group._DG
        model = graph.model
        unit_group = from_torch_pruning(group, graph, model)
        if unit_group is None:
            return None  # not a removable group for tomoprune (e.g. the output layer)
        index = self._index(graph, model, unit_group.name)
        context = ScoringContext(
            cycle=1,
            keep_count=None,
            params=self.params,
            numpy_state=self.numpy_state,
            group_index=index,
            group_name=unit_group.name,
            calibration=self.calibration,
        )
        result = self.scorer.score(GroupWeights(model, unit_group), context)
        # unit j of a UnitGroup is channel j of the Torch-Pruning group's root (root_idxs)
        magnitude = np.abs(np.asarray(result.scores, dtype=float))
        if not self.ranks:
            return torch.as_tensor(magnitude)
        order = np.argsort(-magnitude, kind="stable")  # tomoprune's keep order
        rank = np.empty(magnitude.size)
        rank[order] = np.arange(magnitude.size, 0, -1)
        return torch.as_tensor(rank)
