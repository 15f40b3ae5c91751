"""Plug-ins as typed objects: every method's settings are one frozen dataclass, registered once.

A plug-in family (unit scorers, regularisers, post-training compressors, ...) is a
``PluginRegistry``. Registering a settings class files it under its name; the same table answers
lookups by name (CLI flags, config files, records) and by type (the Python API), so
``Compressor(model, x, scorer=DTC(lam=0.3))`` and ``--method dtc --set method.lam=0.3`` build the
same object::

    @SCORERS.register("magnitude", summary="signed sum of incoming and outgoing weights")
    @dataclass(frozen=True, kw_only=True)
    class Magnitude(UnitScorer):
        power: float = 1.0  # exponent of the sum
        constraints = {"power": Interval(0.0, None, closed="neither")}

        def score(self, weights, ctx) -> ScoreResult: ...

Settings are validated when they are made (``__post_init__``): a value outside its declared
constraint raises one ``ConfigError`` sentence naming the setting, the allowed values and the value
given, in the manner of scikit-learn's parameter validation. The family's base class names the
method that does the work (``score``, ``build``, ``compress_layer``) and its contract.

A plug-in's work may live in another module than its settings: registering with
``implementation="package.module:function"`` makes the base class's method call
``function(settings, *args)``, imported on first use. The built-in plug-ins do this, so their
settings modules import no torch and the command line checks ``--set method.KEY=VALUE`` and
answers ``--help`` before torch loads; a plug-in of your own may simply define the method.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar, get_args, get_origin, get_type_hints

from tomoprune.errors import ConfigError, InvalidSetting

__all__ = ["Interval", "OneOf", "PluginRegistry", "Settings", "load_object"]


@dataclass(frozen=True)
class Interval:
    """A numeric range; ``None`` leaves a side open-ended. ``integer`` also demands an int."""

    low: float | None
    high: float | None
    closed: Literal["both", "left", "right", "neither"] = "both"
    integer: bool = False

    def __call__(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        low_ok = (
            self.low is None
            or value > self.low
            or (value == self.low and self.closed in ("both", "left"))
        )
        high_ok = (
            self.high is None
            or value < self.high
            or (value == self.high and self.closed in ("both", "right"))
        )
        return low_ok and high_ok

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            excluded = {
                "both": "",
                "left": f", {self.high:g} excluded",
                "right": f", {self.low:g} excluded",
                "neither": ", both excluded",
            }[self.closed]
            return f"{kind} between {self.low:g} and {self.high:g}{excluded}"
        if self.low is not None:
            sign = ">=" if self.closed in ("both", "left") else ">"
            return f"{kind} {sign} {self.low:g}"
        if self.high is not None:
            sign = "<=" if self.closed in ("both", "right") else "<"
            return f"{kind} {sign} {self.high:g}"
        return kind


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values."""

    values: tuple[Any, ...]

    def __call__(self, value: Any) -> bool:
        return value in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


Constraint = Interval | OneOf | Callable[[Any], bool]


def _describe(constraint: Constraint) -> str:
    describe = getattr(constraint, "describe", None)
    return describe() if describe else getattr(constraint, "__doc__", None) or "valid"


class Settings:
    """Mixin of every plug-in's settings dataclass (subclasses are frozen, keyword-only).

    ``constraints`` maps field names to an ``Interval``, a ``OneOf`` or a predicate; ``Literal``
    annotations are checked without being listed. ``check()`` is the place for rules that tie
    several fields together. ``name``, ``summary`` and ``implementation`` are filled in by the
    registry.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    # "module:function" doing this plug-in's work, called as function(settings, *args)
    implementation: ClassVar[str] = ""
    constraints: ClassVar[Mapping[str, Constraint]] = {}

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ConfigError`` for the first setting outside its constraint.

        Constraints and ``check`` rules of every class in the MRO apply, so a dataclass made by
        combining two settings classes (a schedule and a scorer) validates both.
        """
        hints = get_type_hints(type(self))
        constraints: dict[str, Constraint] = {}
        for cls in reversed(type(self).__mro__):
            constraints.update(vars(cls).get("constraints", {}))
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            constraint = constraints.get(field.name)
            if constraint is None and get_origin(hints.get(field.name)) is Literal:
                constraint = OneOf(get_args(hints[field.name]))
            if constraint is not None and value is not None and not constraint(value):
                raise InvalidSetting(
                    field.name, _describe(constraint), value, owner=type(self).__name__
                )
        for cls in reversed(type(self).__mro__):
            rule = vars(cls).get("check")
            if rule is not None:
                rule(self)

    def check(self) -> None:
        """Rules that tie several settings together (override; raise ConfigError)."""

    def settings(self) -> dict[str, Any]:
        """The settings as a plain dict (what records store)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def run_implementation(self, method: str, *args: Any) -> Any:
        """Call the registered ``implementation`` with these settings and ``args``.

        What a family's base class does in ``method`` when a subclass does not define it.
        """
        path = type(self).implementation
        if not path:
            raise NotImplementedError(
                f"{type(self).__name__} must define {method}() or be registered with "
                "implementation='module:function'"
            )
        return load_object(path)(self, *args)


def load_object(path: str) -> Any:
    """The object named by ``"package.module:attribute"`` (the module imported on first use)."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


S = TypeVar("S", bound=Settings)


class PluginRegistry(Generic[S]):
    """One plug-in family: names <-> settings classes, in both directions.

    ``kind`` names the family in error messages ("unit scorer", "post-training compressor").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._by_name: dict[str, type[S]] = {}

    def register(
        self, name: str, *, summary: str, implementation: str = ""
    ) -> Callable[[type[S]], type[S]]:
        """Class decorator filing a settings dataclass under ``name`` (once).

        ``implementation``: "module:function" doing the plug-in's work, imported when first
        used (see the module docstring); leave it out when the class defines the method itself.
        """

        def add(cls: type[S]) -> type[S]:
            if not dataclasses.is_dataclass(cls):
                raise TypeError(f"{cls.__name__} must be a dataclass to be a {self.kind}")
            if name in self._by_name:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            cls.name = name
            cls.summary = summary
            if implementation:
                cls.implementation = implementation
            self._by_name[name] = cls
            return cls

        return add

    def get(self, name: str) -> type[S]:
        """The settings class of ``name``, or a ConfigError with the closest and valid names."""
        try:
            return self._by_name[name]
        except (KeyError, TypeError):
            valid = ", ".join(self.names()) or "(none registered)"
            close = difflib.get_close_matches(str(name), list(self._by_name), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"Unknown {self.kind} {name!r}.{hint} Valid names: {valid}."
            ) from None

    def create(self, spec: str | S, **overrides: Any) -> S:
        """Settings from a name (defaults plus ``overrides``) or an instance (plus overrides)."""
        if isinstance(spec, str):
            cls = self.get(spec)
            base: dict[str, Any] = {}
        elif isinstance(spec, Settings) and type(spec).name in self._by_name:
            cls = type(spec)
            base = spec.settings()
        else:
            raise ConfigError(
                f"A {self.kind} must be given by name ({', '.join(self.names())}) or as its "
                f"settings object. Got {spec!r} instead."
            )
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        for key in overrides:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"{cls.__name__} has no setting {key!r}.{hint} Its settings: "
                    f"{', '.join(names) or '(none)'}."
                )
        return cls(**{**base, **overrides})

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def items(self) -> list[tuple[str, type[S]]]:
        return sorted(self._by_name.items())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
