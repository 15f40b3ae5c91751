"""``tomoprune compress --method NAME`` for every registered post-training compressor; no torch.

A run method's settings are the compressor's plus the run's layer patterns, calibration mode and
sample count (``run_params``); the method itself (``tomoprune.methods.posttraining``) is imported
when a run starts, so ``tomoprune compress --help`` and a misspelt ``--set method.KEY`` are
answered before torch loads.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tomoprune.methods import METHOD_REGISTRY, MethodSpec, register_method
from tomoprune.methods.greedy.params import FAMILY
from tomoprune.plugins import Interval
from tomoprune.posttraining.settings import POSTTRAINING, Compressor


def run_params(settings: type[Compressor]) -> type:
    """``settings`` plus the run's layer selection, calibration mode and sample count."""

    @dataclass(frozen=True, kw_only=True)
    class RunParams(settings):  # type: ignore[misc, valid-type]
        layers: tuple[str, ...] = ()
        sequential: bool = True
        calibration_size: int | None = None
        constraints = {
            **settings.constraints,
            "calibration_size": Interval(1, None, integer=True),
        }

        def compressor(self) -> Compressor:
            names = {f.name for f in dataclasses.fields(settings)}
            values = {k: v for k, v in self.settings().items() if k in names}
            return settings(**values)

    RunParams.__name__ = RunParams.__qualname__ = settings.__name__
    return RunParams


# built-in compressors whose `tomoprune compress` method is the greedy package's, with the
# paper's layer-index settings: weight-magnitude, greedy-prune and greedy-quant
RUN_BY_OTHER_METHODS = ("greedy", "magnitude")


def register_posttraining_methods() -> None:
    """``tomoprune compress --method NAME`` for every registered compressor (yours included)."""
    for name, settings in POSTTRAINING.items():
        if name in RUN_BY_OTHER_METHODS or name in METHOD_REGISTRY:
            continue
        register_method(
            MethodSpec(
                name=name,
                params_type=run_params(settings),
                factory="tomoprune.methods.posttraining:build_method",
                default_model="mlp",
                summary=f"post-training: {settings.summary}",
                family=FAMILY,
            )
        )


register_posttraining_methods()
