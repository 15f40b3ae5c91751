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
