"""A method name, a profile and overrides -> the validated ``RunConfig`` of one run.

Resolution order (later wins): dataclass defaults (the ``corrected`` profile) -> the method's
run defaults -> the profile's switches -> the run seed's derived seeds -> a config file ->
``--set key=value`` overrides. The settings machinery itself (dataclasses, overrides, value
checks) is ``tomoprune.config``; this module adds what needs the registries: the method's
params dataclass and defaults, and the model and dataset names.
"""

from __future__ import annotations

from typing import Any

from tomoprune.config import (
    FLAGS,
    PROFILES,
    ModelConfig,
    RunConfig,
    apply_overrides,
    derived_seeds,
    flatten,
    profile_names,
    validate_run_config,
)
from tomoprune.data.datasets import DATASETS
from tomoprune.errors import ConfigError
from tomoprune.methods import METHOD_REGISTRY, load_builtin_methods
from tomoprune.models import MODEL_REGISTRY, load_builtin_models


def resolve_run_config(
    method: str,
    *,
    profile: str = "corrected",
    overrides: dict[str, Any] | None = None,
    base: dict[str, Any] | None = None,
) -> RunConfig:
    """Build the full config for ``method`` under ``profile``.

    ``base`` holds overrides from a config file, ``overrides`` those from the command line;
    both are dotted dicts and are checked strictly.
    """
    load_builtin_methods()
    spec = METHOD_REGISTRY.get(method)
    if profile not in PROFILES:
        raise ConfigError(
            f"Unknown profile {profile!r}. Valid profiles: {', '.join(profile_names())}."
        )
    config = RunConfig(
        method=method,
        profile=profile,
        model=ModelConfig(name=spec.default_model),
        params=spec.params_type(),
    )
    config = apply_overrides(config, dict(spec.run_defaults))
    config = apply_overrides(config, PROFILES[profile], strict=False)
    base, overrides = dict(base or {}), dict(overrides or {})
    seed = overrides.pop("seed", base.pop("seed", 0))
    config = apply_overrides(config, {"seed": seed})
    config = apply_overrides(config, derived_seeds(config.seed), strict=False)
    config = apply_overrides(config, base)
    config = apply_overrides(config, overrides)
    validate_run_config(config)
    check_registered_names(config)
    if spec.validate is not None:
        spec.validate(config.params)
    return config


def check_registered_names(config: RunConfig) -> None:
    """The model and dataset a config names must be registered (one line naming the flag)."""
    load_builtin_models()
    for registry, key, value in (
        (MODEL_REGISTRY, "model.name", config.model.name),
        (DATASETS, "data.dataset", config.data.dataset),
    ):
        try:
            registry.get(value)
        except ConfigError as exc:
            raise ConfigError(f"{exc} Change it with {FLAGS[key]}.") from None


def from_dict(data: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig saved by ``to_dict`` (used by ``run --resume``)."""
    try:
        method = data["method"]
    except (KeyError, TypeError):
        raise ConfigError("config.json has no 'method'; it was not written by tomoprune.") from None
    flat = flatten(data)
    flat.pop("method", None)
    profile = flat.pop("profile", "corrected")
    return resolve_run_config(method, profile=profile, overrides=flat)
