"""One error hierarchy for everything a user can get wrong.

Every message is a single line that names the problem and the fix; the CLI prints it without a
traceback and exits with the error's ``exit_code``.
"""

from __future__ import annotations


class TomopruneError(Exception):
    """Base class: an expected failure caused by input, configuration or environment."""

    exit_code = 1


class ConfigError(TomopruneError):
    """A configuration value, name or combination that cannot work."""

    exit_code = 2


class DataError(TomopruneError):
    """A data file or directory that is missing, corrupt or inconsistent."""

    exit_code = 3


class SolverError(TomopruneError):
    """An optimisation backend that is missing or failed to produce a usable solution."""

    exit_code = 4


class RecordError(TomopruneError):
    """A run directory or record file that is missing, incomplete or unreadable."""

    exit_code = 5


class UnsupportedModelError(ConfigError):
    """A model holds a layer whose units cannot be removed (or traced) by unit groups."""


class ExportError(TomopruneError):
    """A model that cannot be exported, or an export that does not reproduce the model."""

    exit_code = 1


class InvalidSetting(ConfigError):
    """One setting outside its allowed values; ``under(prefix)`` names it as a config key.

    The library names the setting as its owner knows it ("The 'lam' setting of DTC ..."); the
    config resolver re-raises it under the key a user types ("The 'method.lam' setting ...").
    """

    def __init__(self, key: str, requirement: str, value: object, owner: str = "") -> None:
        self.key, self.requirement, self.value, self.owner = key, requirement, value, owner
        of = f" of {owner}" if owner else ""
        super().__init__(f"The '{key}' setting{of} must be {requirement}. Got {value!r} instead.")

    def under(self, prefix: str) -> InvalidSetting:
        return InvalidSetting(prefix + self.key, self.requirement, self.value)


class UnresolvedGroupsWarning(UserWarning):
    """Unit groups left whole because the dependency analysis could not resolve them; the
    model is still compressed through every other group."""
