"""The neuron-pruning method's settings and its ``--method`` entries, one per unit scorer.

``NeuronPruningParams`` is the schedule every scorer shares (how much per cycle, where, the
random state); ``--method NAME`` takes the schedule's fields and the scorer's together
(``method_params_type``). No torch is imported here: the command line lists the methods and
checks ``--set method.KEY`` before torch loads; the method itself is ``method.NeuronPruning``.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any, Literal

from tomoprune.config import DEFAULT_SEED
from tomoprune.errors import ConfigError
from tomoprune.methods import METHOD_REGISTRY, MethodSpec, register_method
from tomoprune.methods.neuron.scoring import SCORERS, UnitScorer
from tomoprune.methods.neuron.scoring.settings import DTC
from tomoprune.plugins import Interval, Settings


@dataclass(frozen=True, kw_only=True)
class NeuronPruningParams(Settings):
    """How much to remove per cycle, where, and the random state shared by every unit scorer.

    ``keep_rule``: "largest" keeps the ``keep_count`` units of largest |score| (what magnitude
    pruning means everywhere else); "below_quantile" keeps the units whose |score| is strictly
    below the ``1 - fraction`` quantile, i.e. removes the largest ones (the published run).
    ``groups``: "all" unit groups of the model, or a comma-separated list of group names (the
    module name of each group's first producer, e.g. "0" or "features.3"). ``selection``:
    "per_group" removes ``fraction`` of every group each cycle; "global" removes ``fraction``
    of all selected units together, the lowest |score| first, no group below ``min_width``.
    """

    fraction: float = 0.1  # share of the current width removed per cycle
    min_width: int = 10  # a group stops shrinking once its width is at or below this
    # "largest": keep the units of largest |score|; "below_quantile": keep those below the
    # 1 - fraction quantile, i.e. remove the largest (the published run)
    keep_rule: Literal["largest", "below_quantile"] = "largest"
    # which unit groups to prune: "all" or comma-separated group names (module names)
    groups: str = "all"
    # per_group: every group loses `fraction`; global: all units together, lowest |score| first
    selection: Literal["per_group", "global"] = "per_group"
    seed: int = DEFAULT_SEED  # seed of the method's random draws (measurements, random scores)
    # reference: numpy re-seeded with ``seed`` before every random draw
    reseed_each_cycle: bool = False

    constraints = {
        "fraction": Interval(0.0, 1.0, closed="neither"),
        "min_width": Interval(1, None, integer=True),
    }

    def check(self) -> None:
        if self.selection == "global" and self.keep_rule != "largest":
            raise ConfigError(
                "The 'keep_rule' setting must be 'largest' under selection='global' (the lowest "
                f"|score| of all groups goes first). Got {self.keep_rule!r} instead."
            )


def method_params_type(scorer: type[UnitScorer]) -> type[NeuronPruningParams]:
    """The settings of ``--method NAME`` for a scorer: the schedule's fields and the scorer's.

    Made once per scorer class, so ``method.*`` keys on the command line, config files and
    ``config.json`` records are the union of both dataclasses.
    """
    cached = _METHOD_PARAMS.get(scorer)
    if cached is None:
        fields = {f.name for f in dataclasses.fields(scorer)}
        if not fields:
            cached = NeuronPruningParams
        else:
            cached = dataclasses.make_dataclass(
                f"{scorer.__name__}Params",
                [],
                bases=(scorer, NeuronPruningParams),
                frozen=True,
                kw_only=True,
            )
            cached.__module__ = __name__
        _METHOD_PARAMS[scorer] = cached
    return cached


_METHOD_PARAMS: dict[type, type] = {}


def method_params(scorer: str | UnitScorer, **settings: Any) -> tuple[str, NeuronPruningParams]:
    """The scorer's name and the method params from a name or a scorer object, plus settings.

    ``settings`` may hold schedule fields (``fraction``, ``seed``, ...) and, with a name, the
    scorer's own settings; a key neither knows is refused naming the closest valid one.
    """
    if isinstance(scorer, UnitScorer):
        cls = SCORERS.get(type(scorer).name)
        base = {f.name: getattr(scorer, f.name) for f in dataclasses.fields(cls)}
    elif isinstance(scorer, str):
        cls, base = SCORERS.get(scorer), {}
    else:
        raise ConfigError(
            f"The 'scorer' argument must be a scorer name ({', '.join(SCORERS.names())}) or a "
            f"scorer object such as DTC(lam=0.3). Got {scorer!r} instead."
        )
    params_type = method_params_type(cls)
    known = [f.name for f in dataclasses.fields(params_type)]
    for key in settings:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"The {cls.name} scorer and the schedule have no setting {key!r}.{hint} Valid: "
                f"{', '.join(sorted(known))}."
            )
    return cls.name, params_type(**{**base, **settings})


def scorer_from_params(name: str, params: NeuronPruningParams) -> UnitScorer:
    """The scorer object named ``name`` with its settings taken from the method's params."""
    cls = SCORERS.get(name)
    return cls(**{f.name: getattr(params, f.name) for f in dataclasses.fields(cls)})


def validate(params: NeuronPruningParams) -> None:
    """Settings are validated when made; re-run for objects built with ``replace``."""
    params.validate()


def register_scorer_methods() -> None:
    """One ``--method NAME`` per registered unit scorer (scorers registered later included)."""
    for name, scorer in SCORERS.items():
        if name in METHOD_REGISTRY:
            continue
        register_method(
            MethodSpec(
                name=name,
                params_type=method_params_type(scorer),
                factory="tomoprune.methods.neuron.method:build_method",
                default_model="mlp",
                summary=scorer.summary,
                family="neuron-pruning",
                validate=validate,
            )
        )


DTCParams = method_params_type(DTC)
register_scorer_methods()
