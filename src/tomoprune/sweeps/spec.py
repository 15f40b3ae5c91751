"""A sweep spec (TOML): a base config, the axes to vary, and its expansion into named runs.

::

    [sweep]
    name = "dtc-seeds-reference"
    description = "10 seeds x 3 methods at the paper's settings"
    seeds = 10                      # or a list: [0, 1, 2]; seed 0 is the published run

    [base]                          # dotted settings applied to every run (as --set)
    profile = "reference"
    "data.dataset" = "mnist"

    [axes]                          # every combination of these values, for every seed
    method = ["magnitude", "random", "dtc"]
    "train.steps_per_cycle" = [50, 200, 500]

    [analysis]                      # analysis-only axes: no runs of their own
    binning = ["paper", "fd", "sturges", "fixed_count"]

    [statistics]                    # declared before the runs (see StatisticsPlan)
    quantity = "raw"                # accuracy compared: raw or lowess
    sparsity_cut = 0.85             # the primary statistic: mean accuracy above this sparsity
    margin = 0.005                  # TOST equivalence margin (accuracy, 0.005 = half a point)
    pairs = ["dtc-random", "dtc-magnitude"]   # the family Holm corrects over (default: all)
    baselines = { "train.steps_per_cycle" = 200 }  # settings compared with this value of an axis

``method`` and ``profile`` are axes or base settings like any other key; every other key is
checked against the run config (a typo is refused with the valid names). Each run gets a
self-describing directory name built from its axis values, e.g.
``method=dtc__steps_per_cycle=50__seed=3``.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tomoprune import config as cfg
from tomoprune.errors import ConfigError

SPEC_SECTIONS = ("sweep", "base", "axes", "analysis", "statistics")
SWEEP_KEYS = ("name", "description", "seeds")
ANALYSIS_AXES = ("binning",)
DEFAULT_METHOD = "dtc"
DEFAULT_PROFILE = "corrected"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its directory name, axis values and resolved config."""

    name: str
    axes: dict[str, Any]  # axis key -> value, seed included
    config: cfg.RunConfig


@dataclass(frozen=True, kw_only=True)
class StatisticsPlan:
    """How a sweep's runs are compared, declared in the spec before the runs.

    Attributes
    ----------
    primary : {"paired_t"}
        The test that decides the sentences: the paired t-test of the mean difference over seeds.
    statistic : {"high_sparsity_mean", "area_under_curve"}
        The per-run number compared: mean accuracy above ``sparsity_cut``, or the normalised
        area under accuracy over ``auc_range``. The other one is reported beside it.
    quantity : {"raw", "lowess"}
        Raw test accuracy (each cycle measured once) or its LOWESS fit (as the paper's table).
    sparsity_cut : float
        The cut of the high-sparsity mean, in (0, 1).
    auc_range : (float, float)
        The sparsity range of the area under the curve.
    margin : float
        Equivalence margin of TOST, in accuracy (0.005 = half a point): a smaller difference is
        declared of no practical consequence.
    alpha : float
        Family-wise error rate (Holm) and TOST level.
    pairs : tuple of str or None
        The comparisons of the family, ``"a-b"`` meaning a minus b, each within every setting;
        None: every pair of methods the sweep holds.
    baselines : dict or None
        Comparisons between the settings of an axis (``{"method.lam": 0.3}``: every other value
        of ``method.lam`` minus 0.3, within each method and each value of the other axes, paired
        by seed). Axes not listed are compared this way only when the sweep holds one method
        (a DTC-only ablation), then every pair of their values (later minus earlier in the
        spec's order). Together with ``pairs`` they form the family Holm corrects over.
    """

    primary: str = "paired_t"
    statistic: str = "high_sparsity_mean"
    quantity: str = "raw"
    sparsity_cut: float = 0.85
    auc_range: tuple[float, float] = (0.5, 0.98)
    margin: float = 0.005
    alpha: float = 0.05
    pairs: tuple[str, ...] | None = None
    baselines: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        choices = {
            "primary": ("paired_t",),
            "statistic": ("high_sparsity_mean", "area_under_curve"),
            "quantity": ("raw", "lowess"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"[statistics] {name!r} must be one of {list(allowed)}. Got "
                    f"{getattr(self, name)!r} instead."
                )
        if not 0.0 < self.sparsity_cut < 1.0:
            raise ConfigError(
                f"[statistics] 'sparsity_cut' must be in (0, 1). Got {self.sparsity_cut!r} instead."
            )
        low, high = self.auc_range
        if not 0.0 <= low < high <= 1.0:
            raise ConfigError(
                "[statistics] 'auc_range' must be [low, high] with 0 <= low < high <= 1. Got "
                f"{list(self.auc_range)!r} instead."
            )
        if not 0.0 < self.margin < 1.0:
            raise ConfigError(
                f"[statistics] 'margin' must be in (0, 1) (accuracy). Got {self.margin!r} instead."
            )
        if not 0.0 < self.alpha < 0.5:
            raise ConfigError(
                f"[statistics] 'alpha' must be in (0, 0.5). Got {self.alpha!r} instead."
            )
        for pair in self.pairs or ():
            if pair.count("-") != 1 or not all(pair.split("-")):
                raise ConfigError(
                    f"[statistics] 'pairs' entries must read 'a-b' (a minus b). Got {pair!r} instead."
                )

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> StatisticsPlan:
        valid = [f for f in cls.__dataclass_fields__]
        unknown = sorted(set(table) - set(valid))
        if unknown:
            raise ConfigError(
                f"[statistics] has unknown key(s) {unknown}; valid: {', '.join(valid)}."
            )
        values = dict(table)
        if "auc_range" in values:
            values["auc_range"] = tuple(float(v) for v in values["auc_range"])
        if values.get("pairs") is not None:
            values["pairs"] = tuple(str(v) for v in values["pairs"])
        if values.get("baselines") is not None:
            if not isinstance(values["baselines"], Mapping):
                raise ConfigError(
                    "[statistics] 'baselines' must be a table {axis = value}, e.g. "
                    f'{{"method.lam" = 0.3}}. Got {values["baselines"]!r} instead.'
                )
            values["baselines"] = cfg.flatten(dict(values["baselines"]))
        return cls(**values)

    def setting_pairs(
        self, axis: str, values: Sequence[Any], single_method: bool
    ) -> list[tuple[Any, Any]]:
        """The (a, b) value pairs of ``axis`` compared (a minus b), in the spec's value order."""
        if self.baselines and axis in self.baselines:
            base = self.baselines[axis]
            return [(v, base) for v in values if v != base]
        if not single_method or len(values) < 2:
            return []
        return [(later, earlier) for earlier, later in itertools.combinations(values, 2)]

    def pair_list(self, methods: Sequence[str]) -> list[tuple[str, str]]:
        """The declared pairs present among ``methods``, or every pair: later minus earlier in
        the methods' order (so the method listed last in the spec is compared with the others)."""
        if self.pairs is None:
            ordered = list(methods)[::-1]
            return list(itertools.combinations(ordered, 2))
        found = []
        for pair in self.pairs:
            a, b = pair.split("-")
            if a in methods and b in methods:
                found.append((a, b))
        return found

    def to_dict(self) -> dict[str, Any]:
        out = {f: getattr(self, f) for f in self.__dataclass_fields__}
        out["auc_range"] = list(self.auc_range)
        out["pairs"] = None if self.pairs is None else list(self.pairs)
        out["baselines"] = None if self.baselines is None else dict(self.baselines)
        return out


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep spec (see the module docstring)."""

    name: str
    description: str = ""
    seeds: tuple[int, ...] = (0,)
    base: dict[str, Any] = field(default_factory=dict)
    axes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    analysis: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    statistics: StatisticsPlan = field(default_factory=StatisticsPlan)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "seeds": list(self.seeds),
            "base": dict(self.base),
            "axes": {k: list(v) for k, v in self.axes.items()},
            "analysis": {k: list(v) for k, v in self.analysis.items()},
            "statistics": self.statistics.to_dict(),
        }

    def methods(self) -> list[str]:
        """The methods the sweep runs, in spec order."""
        if "method" in self.axes:
            return [str(m) for m in self.axes["method"]]
        return [str(self.base.get("method", DEFAULT_METHOD))]

    def axis_keys(self) -> list[str]:
        """The varied keys in directory-name order (seed last)."""
        return [*self.axes, "seed"]

    def expand(self, overrides: Mapping[str, Any] | None = None) -> list[RunSpec]:
        """Every run of the sweep in a stable order: seed outermost (so that a sweep stopped
        early holds whole seeds), then the axes in spec order.

        ``overrides`` (from ``--set``) apply to every run after the base and the axis values.
        """
        # lazy: CLI start-up (parsing a spec stays torch-free; resolving loads the registries)
        from tomoprune.runs.resolve import resolve_run_config

        keys = list(self.axes)
        runs = []
        for seed, *values in itertools.product(self.seeds, *(self.axes[k] for k in keys)):
            axes = {**dict(zip(keys, values, strict=True)), "seed": seed}
            settings = {**self.base, **axes, **dict(overrides or {})}
            method = str(settings.pop("method", DEFAULT_METHOD))
            profile = str(settings.pop("profile", DEFAULT_PROFILE))
            config = resolve_run_config(method, profile=profile, base=settings)
            runs.append(RunSpec(name=run_name(axes), axes=axes, config=config))
        names = [r.name for r in runs]
        if len(set(names)) != len(names):
            raise ConfigError(
                f"sweep {self.name!r}: two runs share a directory name; the axis values must "
                "differ after rounding to a file name."
            )
        return runs


def short_key(key: str) -> str:
    """The last part of a dotted key (``train.steps_per_cycle`` -> ``steps_per_cycle``)."""
    return key.rsplit(".", 1)[-1]


def run_name(axes: Mapping[str, Any]) -> str:
    """``method=dtc__steps_per_cycle=50__seed=3``: a directory name that says what varies."""
    parts = []
    for key, value in axes.items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        parts.append(f"{short_key(key)}={_UNSAFE.sub('_', text)}")
    return "__".join(parts)


def _values(section: str, key: str, value: Any) -> tuple[Any, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(
            f"[{section}] {key!r} must be a non-empty list of values, e.g. {key} = [1, 2]. "
            f"Got {value!r} instead."
        )
    if len(set(map(repr, value))) != len(value):
        raise ConfigError(f"[{section}] {key!r} lists a value twice: {value!r}.")
    return tuple(value)


def parse_seeds(value: Any) -> tuple[int, ...]:
    """``10`` -> seeds 0..9; a list is taken as given."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, int) and value >= 1:
        return tuple(range(value))
    if isinstance(value, list) and value and all(isinstance(v, int) and v >= 0 for v in value):
        if len(set(value)) != len(value):
            raise ConfigError(f"[sweep] seeds lists a seed twice: {value!r}.")
        return tuple(value)
    raise ConfigError(
        "[sweep] seeds must be a positive count (10 = seeds 0..9) or a list of non-negative "
        f"integers. Got {value!r} instead."
    )


def _flat(section: str, table: Any) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}] must be a table of settings.")
    return cfg.flatten(table)


def parse_spec(data: Mapping[str, Any], *, default_name: str = "sweep") -> SweepSpec:
    """Check and build a spec from its TOML table."""
    unknown = sorted(set(data) - set(SPEC_SECTIONS))
    if unknown:
        raise ConfigError(
            f"unknown section(s) {unknown} in the sweep spec; valid: {', '.join(SPEC_SECTIONS)}."
        )
    head = data.get("sweep", {})
    extra = sorted(set(head) - set(SWEEP_KEYS))
    if extra:
        raise ConfigError(f"[sweep] has unknown key(s) {extra}; valid: {', '.join(SWEEP_KEYS)}.")
    base = _flat("base", data.get("base", {}))
    axes_table = _flat("axes", data.get("axes", {}))
    if "seed" in axes_table or "seed" in base:
        raise ConfigError("give the seeds as [sweep] seeds = N (or a list), not as an axis.")
    axes = {key: _values("axes", key, value) for key, value in axes_table.items()}
    clash = sorted(set(axes) & set(base))
    if clash:
        raise ConfigError(f"{clash} appear both in [base] and [axes]; keep each in one place.")
    analysis_table = _flat("analysis", data.get("analysis", {}))
    bad = sorted(set(analysis_table) - set(ANALYSIS_AXES))
    if bad:
        raise ConfigError(f"[analysis] has unknown axes {bad}; valid: {', '.join(ANALYSIS_AXES)}.")
    analysis = {key: _values("analysis", key, v) for key, v in analysis_table.items()}
    name = head.get("name", default_name)
    table = data.get("statistics", {})
    if not isinstance(table, dict):
        raise ConfigError("[statistics] must be a table of settings.")
    plan = StatisticsPlan.from_table(table)
    for axis, value in (plan.baselines or {}).items():
        if axis not in axes or axis == "method":
            raise ConfigError(
                f"[statistics] baselines names {axis!r}, which is not an axis of this sweep; "
                f"axes: {', '.join(k for k in axes if k != 'method') or 'none'}."
            )
        if value not in axes[axis]:
            raise ConfigError(
                f"[statistics] baseline {axis} = {value!r} is not one of the axis' values "
                f"{list(axes[axis])}."
            )
    return SweepSpec(
        name=str(name),
        description=str(head.get("description", "")),
        seeds=parse_seeds(head.get("seeds", 1)),
        base=base,
        axes=axes,
        analysis=analysis,
        statistics=plan,
    )


def load_spec(path: str | Path) -> SweepSpec:
    """Read a sweep spec file (TOML); the file name is the default sweep name."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: sweep spec not found; pass an existing .toml file.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: cannot parse the sweep spec ({exc}).") from None
    spec = parse_spec(data, default_name=path.stem)
    spec.expand()  # every setting checked now, not after hours of runs
    return spec


def varying_keys(runs: Sequence[RunSpec]) -> list[str]:
    """Axis keys (seed excluded) that take more than one value across ``runs``."""
    keys = [k for k in (runs[0].axes if runs else {}) if k != "seed"]
    return [k for k in keys if len({repr(r.axes[k]) for r in runs}) > 1]
