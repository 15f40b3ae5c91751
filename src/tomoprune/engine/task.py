"""``Task`` under its engine-side name; the one data container lives in
``tomoprune.data.task`` (data sits below the engine in the layer order)."""

from tomoprune.data.task import Task

__all__ = ["Task"]
