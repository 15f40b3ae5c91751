"""The method registry: every compression method the CLI and configs can name.

A method is registered with its own hyperparameter dataclass (defaults = "no change") and the
"module:function" of the factory that builds a ``CompressionMethod`` for one run.
``tomoprune run --method NAME`` looks the name up here; ``--set method.KEY=VALUE`` overrides
fields of that dataclass. The registrations and the dataclasses live in torch-free settings
modules and the factories are imported only when a run is built, so listing the methods and
checking their settings never loads torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tomoprune.plugins import load_object
from tomoprune.registry import Registry


@dataclass(frozen=True)
class MethodSpec:
    """How to configure and build one method.

    ``factory`` is the "module:function" of ``function(name, params, run_config)``, which
    receives the method's own frozen params dataclass and the resolved ``RunConfig`` (model,
    data, training settings, seeds) and returns a CompressionMethod; it is imported on first
    ``build``. ``default_model`` is the model a run uses when the user names none.
    """

    name: str
    params_type: type
    factory: str
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

    def build(self, params: Any, run_config: Any) -> Any:
        """The ``CompressionMethod`` of one run (imports the method's implementation)."""
        return load_object(self.factory)(self.name, params, run_config)


METHOD_REGISTRY: Registry[MethodSpec] = Registry("method")


def register_method(spec: MethodSpec) -> MethodSpec:
    METHOD_REGISTRY.register(spec.name)(spec)
    return spec


def load_builtin_methods() -> None:
    """Import the settings modules that register the built-in methods (idempotent, no torch)."""
    import importlib

    for module in (
        "tomoprune.methods.neuron.settings",
        "tomoprune.methods.l0.settings",
        "tomoprune.methods.greedy.params",
        "tomoprune.methods.posttraining_params",
    ):
        importlib.import_module(module)
    # plug-ins registered after the built-ins (a user's own module) get their --method too
    importlib.import_module("tomoprune.methods.neuron.settings").register_scorer_methods()
    importlib.import_module("tomoprune.methods.l0.settings").register_l0_methods()
    importlib.import_module("tomoprune.methods.posttraining_params").register_posttraining_methods()
