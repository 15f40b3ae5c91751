"""The method registry: every compression method the CLI and configs can name.

A method is registered with its own hyperparameter dataclass (defaults = "no change") and a
factory that builds a ``CompressionMethod`` for one run. ``tomoprune run --method NAME`` looks
the name up here; ``--set method.KEY=VALUE`` overrides fields of that dataclass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tomoprune.registry import Registry


@dataclass(frozen=True)
class MethodSpec:
    """How to configure and build one method.

    ``build(params, run)`` receives the method's own frozen params dataclass and the resolved
    ``RunConfig`` (model, data, training settings, seeds) and returns a CompressionMethod.
    ``default_model`` is the model a run uses when the user names none.
    """

    name: str
    params_type: type
    build: Callable[[Any, Any], Any]
    default_model: str
    summary: str
    family: str  # "neuron-pruning", "l0", ...
    # run-level defaults this method needs, as dotted overrides applied before the user's
    # (e.g. {"train.batch_size": 500, "data.validation_size": 5000} for the l0 family)
    run_defaults: tuple[tuple[str, Any], ...] = ()
    # checks the params when the config is resolved (raises ConfigError naming the key)
    validate: Callable[[Any], None] | None = None
    # the params fields this method reads (empty: all of them); `tomoprune methods` shows these
    settings: tuple[str, ...] = ()


METHOD_REGISTRY: Registry[MethodSpec] = Registry("method")


def register_method(spec: MethodSpec) -> MethodSpec:
    METHOD_REGISTRY.register(spec.name)(spec)
    return spec


def load_builtin_methods() -> None:
    """Import the modules that register the built-in methods (idempotent)."""
    import importlib

    for module in (
        "tomoprune.methods.neuron.method",
        "tomoprune.methods.l0.method",
        "tomoprune.methods.greedy.method",
        "tomoprune.methods.posttraining",
    ):
        importlib.import_module(module)
    # scorers registered after the built-ins (a user's own module) get their --method too
    importlib.import_module("tomoprune.methods.neuron.method").register_scorer_methods()
