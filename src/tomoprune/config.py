"""Run configuration: frozen dataclasses per concern, profiles, and dotted overrides.

Resolution order (later wins): dataclass defaults (the ``corrected`` profile) -> the method's
run defaults -> the profile's switches -> a config file -> ``--set key=value`` overrides.
Unknown keys are rejected with the list of valid ones, so a typo never passes silently.
The resolution itself (``tomoprune.runs.resolve.resolve_run_config``) needs the method, model
and dataset registries, so it lives above them; this module is the torch-free core.

Every deviation of the published experiment from the corrected default is one named switch
(see ``PROFILES``), so a user can flip any single one and see its effect.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from tomoprune.errors import ConfigError, InvalidSetting

# The library's default seed (weight initialisation, batch order, a method's draws). Its value
# is the DTC paper's published seed, kept so that every run recorded with the defaults keeps its
# numbers; the reproductions do not rely on it: they state the paper's seed themselves
# (tomoprune.reproduce.paper.REFERENCE_SEED, checked equal by tests/unit/test_run_seed.py).
DEFAULT_SEED = 42424242


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Which dataset, where it lives, and how the training split is carved."""

    dataset: str = "mnist"  # mnist | fashion-mnist (IDX files) | digits (bundled, offline)
    data_dir: str | None = None  # folder of the IDX files (default: search, `tomoprune data`)
    # samples held out of the training split for validation/calibration (0 = none, or
    # validation_fraction of them)
    validation_size: int = 0
    # with validation_size 0: this share of the training samples is held out (0 = none)
    validation_fraction: float = 0.0
    # training samples kept after the validation split (None = all the rest); the l0 family's
    # paper split is 45k train / 5k validation / 10k test
    train_size: int | None = None
    split_seed: int = 0  # seed of the validation split


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Architecture and initialisation."""

    name: str = "mlp"  # mlp | lenet300 | lenet5 | resnet
    # the MLP's hidden widths: one int (the paper's one hidden layer) or several, first to last
    # (``--hidden 512,256,128``); a one-element list is stored as the int
    hidden: int | tuple[int, ...] = 512
    bias: bool = False  # biases in the Linear/Conv2d layers
    input_batchnorm: bool = False  # a BatchNorm layer on the input
    init_seed: int = DEFAULT_SEED  # seed of the weight initialisation and the loop's draws


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How each training phase runs, including the reference-profile switches."""

    batch_size: int = 512  # training samples per Adam step
    steps_per_cycle: int = 200  # training steps before each compression (neuron pruning)
    lr: float = 1e-3  # Adam learning rate
    eval_batch_size: int = 512  # samples per forward pass when measuring accuracy and loss
    # reference: "batch" (log-softmax over the batch, then cross-entropy over classes again)
    log_softmax_dim: Literal["classes", "batch"] = "classes"
    # reference: a new Adam every cycle; corrected: Adam state carried, sliced with the neurons
    fresh_optimizer_each_cycle: bool = False
    # reference: the file's fixed order; corrected: shuffled by a seeded generator
    shuffle: bool = True
    # reference: every cycle starts again from the first batch of the epoch
    restart_batches_each_cycle: bool = False
    # reference: mean of per-batch accuracies; corrected: correct / total
    accuracy: Literal["sample_weighted", "batch_mean"] = "sample_weighted"
    data_seed: int = DEFAULT_SEED  # seed of the batch order
    # Adam kernel: "fused" (fastest on CPU) or "for_loop" (PyTorch's default on CPU, which the
    # published run used; rounding differs in the last bits)
    adam: Literal["fused", "foreach", "for_loop"] = "fused"
    # layout of convolution weights during training (models.layout): "channels_last" halves a
    # LeNet-5 step on CPU; models without Conv2d layers are unaffected either way
    memory_format: Literal["channels_last", "contiguous"] = "channels_last"
    # measure inference latency after every cycle (median of 5 forwards at batch 1 and 256):
    # cycles.csv columns latency_b1_s and latency_b256_s (wall-clock, like train_seconds)
    cycle_latency: bool = True


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Everything that determines a run's numbers; saved verbatim in ``config.json``."""

    method: str = "dtc"  # see `tomoprune methods`
    profile: str = "corrected"  # corrected | reference (as the published experiment ran)
    # the run's seed: init, data-order, split and method seeds derive from it (see SEED_KEYS);
    # seed 0 keeps each of them at its default (DEFAULT_SEED where it has one)
    seed: int = 0
    device: str = "cpu"  # cpu | cuda | cuda:N
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    # the method's own frozen params dataclass (see tomoprune.methods)
    params: Any = None


# Each profile is a set of dotted switches applied on top of the defaults. "method.*" switches
# apply only to methods whose params have that field.
PROFILES: dict[str, dict[str, Any]] = {
    "corrected": {},
    "reference": {
        "train.log_softmax_dim": "batch",
        "train.fresh_optimizer_each_cycle": True,
        "train.shuffle": False,
        "train.restart_batches_each_cycle": True,
        "train.accuracy": "batch_mean",
        "train.adam": "for_loop",
        "method.keep_rule": "below_quantile",
        "method.reseed_each_cycle": True,
        "method.measurement_rule": "reference",
        "method.solver": "scs",
    },
}


# The seeds that derive from ``RunConfig.seed``; a method's seed is set only when its params
# have a ``seed`` field. An explicit setting of any of them wins over the derived value.
SEED_KEYS = ("model.init_seed", "train.data_seed", "data.split_seed", "method.seed")


def derived_seeds(seed: int) -> dict[str, int]:
    """The individual seeds of run seed ``seed``: empty for 0 (every default kept, so a seed-0
    run is the run made before this setting existed), otherwise one independent 31-bit value
    per key from ``numpy.random.SeedSequence(seed)`` spawned in ``SEED_KEYS`` order."""
    if seed < 0:
        raise ConfigError(f"The 'seed' setting must be a non-negative integer. Got {seed}.")
    if seed == 0:
        return {}
    import numpy as np

    children = np.random.SeedSequence(seed).spawn(len(SEED_KEYS))
    return {
        key: int(child.generate_state(1, dtype=np.uint32)[0] >> 1)
        for key, child in zip(SEED_KEYS, children, strict=True)
    }


def profile_names() -> list[str]:
    return sorted(PROFILES)


def parse_widths(value: Any, key: str = "model.hidden") -> int | tuple[int, ...]:
    """``512`` / ``"512"`` -> 512; ``"512,256,128"`` / ``[512, 256, 128]`` -> a tuple.

    Every width must be a positive integer; a single width is returned as an int, so configs
    (and their records) that name one width look exactly as before several were possible.
    """
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    widths: list[int] = []
    for item in items:
        text = str(item).strip()
        if not isinstance(item, bool) and text.lstrip("-").isdigit() and int(text) < 1:
            raise invalid_setting(key, "at least 1", int(text))
        if isinstance(item, bool) or not text.isdigit():
            raise ConfigError(
                f"The '{key}' setting must be a positive width or a comma-separated list of "
                f"positive widths (e.g. 512,256,128). Got {_shown(value)!r} instead; change it "
                f"with {FLAGS.get(key, '--set')} or --set {key}=VALUE."
            )
        widths.append(int(text))
    if not widths:
        raise ConfigError(
            f"The '{key}' setting needs at least one width (e.g. 512 or 512,256,128). "
            f"Got {_shown(value)!r} instead."
        )
    return widths[0] if len(widths) == 1 else tuple(widths)


def _widths(hidden: int | tuple[int, ...]) -> tuple[int, ...]:
    return hidden if isinstance(hidden, tuple) else (hidden,)


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def _is_widths(annotation: Any) -> bool:
    """``int | tuple[int, ...]``: one width or several."""
    args = get_args(annotation)
    return len(args) == 2 and int in args and any(get_origin(a) is tuple for a in args)


_KIND = {int: "an integer", float: "a number", str: "a string"}


def _list_items(text: str) -> list[Any]:
    """A JSON list, or the shell-friendly ``[a,b]`` / ``a,b`` with bare words."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError:
        inner = text.strip().removeprefix("[").removesuffix("]")
        return [part.strip().strip("'\"") for part in inner.split(",") if part.strip()]
    return items if isinstance(items, list) else [items]


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Turn a CLI string (or JSON value) into the annotated type, or raise ConfigError."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if _is_widths(annotation):
        return parse_widths(value, key)
    if origin is Literal:
        if value not in args:
            choices = ", ".join(map(str, args))
            raise ConfigError(
                f"The '{key}' setting must be one of {choices}. Got {value!r} instead."
            )
        return value
    if args and type(None) in args:  # Optional[X]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"The '{key}' setting must be true or false. Got {value!r} instead.")
    if annotation in (int, float, str):
        try:
            if annotation is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return annotation(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"The '{key}' setting must be {_KIND[annotation]}. Got {value!r} instead."
            ) from None
    if origin in (tuple, list):
        items = value if isinstance(value, (list, tuple)) else _list_items(str(value))
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner, key) for v in items)
    return value


def _set_field(obj: Any, path: list[str], value: Any, full_key: str) -> Any:
    """Return a copy of dataclass ``obj`` with the dotted ``path`` set to ``value``."""
    if not is_dataclass(obj):
        raise ConfigError(f"Unknown setting '{full_key}'.")
    hints = get_type_hints(type(obj))
    names = [f.name for f in fields(obj)]
    name = path[0]
    if name not in names:
        suggestion = difflib.get_close_matches(name, names, n=1)
        prefix = full_key[: len(full_key) - len(".".join(path))]
        hint = f" Did you mean '{prefix}{suggestion[0]}'?" if suggestion else ""
        valid = ", ".join(prefix + n for n in names)
        raise ConfigError(f"Unknown setting '{full_key}'.{hint} Valid settings here: {valid}.")
    prefix = full_key[: len(full_key) - len(".".join(path))]
    try:
        if len(path) == 1:
            return replace(obj, **{name: _coerce(value, hints[name], full_key)})
        return replace(obj, **{name: _set_field(getattr(obj, name), path[1:], value, full_key)})
    except InvalidSetting as exc:
        if exc.owner:  # named by its settings class: name it by the key a user types
            raise exc.under(prefix) from None
        raise


def apply_overrides(
    config: RunConfig, overrides: dict[str, Any], *, strict: bool = True
) -> RunConfig:
    """Apply dotted ``{"train.lr": 0.01, "method.lam": 0.3}`` overrides.

    ``method.*`` keys address ``config.params``. With ``strict=False`` (used for profiles), a
    ``method.*`` key that the current method does not have is skipped.
    """
    for key, value in overrides.items():
        parts = key.split(".")
        if parts[0] in ("method", "params"):
            if config.params is None or (
                not strict and parts[1] not in {f.name for f in fields(config.params)}
            ):
                if strict and config.params is None:
                    raise ConfigError(f"'{key}': this run's method takes no parameters.")
                continue
            config = replace(config, params=_set_field(config.params, parts[1:], value, key))
        else:
            config = _set_field(config, parts, value, key)
    return config


def override_dataclass(obj: Any, overrides: dict[str, Any]) -> Any:
    """A copy of any frozen config dataclass with dotted ``overrides`` applied (values coerced
    to the annotated types, unknown keys rejected with the nearest valid name)."""
    for key, value in overrides.items():
        obj = _set_field(obj, key.split("."), value, key)
    return obj


def parse_set_options(items: list[str] | None) -> dict[str, str]:
    """Parse repeated ``--set key=value`` options into a dict (values stay strings)."""
    result: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--set expects KEY=VALUE (e.g. train.lr=0.001). Got {item!r} instead."
            )
        result[key.strip()] = value.strip()
    return result


def to_dict(config: RunConfig) -> dict[str, Any]:
    """Plain-JSON form of a config (the method params under "params")."""
    out = dataclasses.asdict(replace(config, params=None))
    out["params"] = dataclasses.asdict(config.params) if config.params is not None else None
    return out


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1}}`` -> ``{"train.lr": 1}``; "params" becomes "method"."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = "method" if (not prefix and key == "params") else key
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or TOML config file into dotted overrides."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; pass an existing .json or .toml file.")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # both parsers raise their own error types
        raise ConfigError(f"{path}: cannot parse config ({exc}).") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a table/object of settings.")
    return flatten(data)


# the command-line flag that sets a key directly (every key can also be set with --set)
FLAGS = {
    "data.dataset": "--dataset",
    "data.data_dir": "--data-dir",
    "model.name": "--model",
    "model.hidden": "--hidden",
    "device": "--device",
}


def invalid_setting(key: str, requirement: str, value: Any) -> ConfigError:
    """The one sentence for a bad value: name, allowed range, value got, how to change it."""
    how = f"{FLAGS[key]} or --set {key}=VALUE" if key in FLAGS else f"--set {key}=VALUE"
    return ConfigError(
        f"The '{key}' setting must be {requirement}. Got {value!r} instead; change it with {how}."
    )


def validate_run_config(config: RunConfig) -> None:
    """Reject run settings that cannot give a meaningful run, before anything is written.

    The values only; ``runs.resolve.check_registered_names`` checks the model and dataset
    names against their registries."""
    train, data, model = config.train, config.data, config.model
    checks = [
        ("train.lr", math.isfinite(train.lr) and train.lr > 0, "a positive number", train.lr),
        ("train.batch_size", train.batch_size >= 1, "at least 1", train.batch_size),
        ("train.steps_per_cycle", train.steps_per_cycle >= 1, "at least 1", train.steps_per_cycle),
        ("train.eval_batch_size", train.eval_batch_size >= 1, "at least 1", train.eval_batch_size),
        ("train.data_seed", train.data_seed >= 0, "a non-negative integer", train.data_seed),
        ("model.hidden", min(_widths(model.hidden)) >= 1, "at least 1", model.hidden),
        ("model.init_seed", model.init_seed >= 0, "a non-negative integer", model.init_seed),
        ("data.validation_size", data.validation_size >= 0, "0 or more", data.validation_size),
        (
            "data.validation_fraction",
            0.0 <= data.validation_fraction < 1.0,
            "between 0 and 1 (1 excluded)",
            data.validation_fraction,
        ),
        (
            "data.train_size",
            data.train_size is None or data.train_size >= 1,
            "at least 1 (or none for all the rest)",
            data.train_size,
        ),
        ("data.split_seed", data.split_seed >= 0, "a non-negative integer", data.split_seed),
        ("data.dataset", bool(data.dataset), "a dataset name", data.dataset),
    ]
    for key, ok, requirement, value in checks:
        if not ok:
            raise invalid_setting(key, requirement, value)
    if not config.device.strip():
        raise invalid_setting("device", "cpu, cuda or cuda:N", config.device)


def describe_fields(cls: type) -> dict[str, str]:
    """One line of description per field of dataclass ``cls``, from the comments beside or
    above each field in its source. The class that introduces a field describes it; a
    subclass's comment (often a note on why it changes the default) is used only when the base
    has none."""
    import inspect
    import re

    described: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not is_dataclass(klass):
            continue
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):
            continue
        above: list[str] = []
        for line in lines[1:]:
            text = line.strip()
            if text.startswith("#"):
                above.append(text.lstrip("# ").strip())
                continue
            match = re.match(r"(\w+)\s*:[^#]*?(?:#\s*(.*))?$", text)
            if match and not text.startswith(("def ", "@", '"')):
                parts = [*above, match.group(2) or ""]
                description = " ".join(p for p in parts if p)
                if description and not described.get(match.group(1)):
                    described[match.group(1)] = description
            above = []
    return {f.name: described.get(f.name, "") for f in fields(cls)}
