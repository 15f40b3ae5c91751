"""Runs: from settings to a finished run directory.

``runs.resolve`` turns a method name, a profile and overrides into a validated ``RunConfig``
(it needs the method, model and dataset registries, so it sits above them, not in the
torch-free ``tomoprune.config``); ``runs.runner`` drives one run: data, model, method, loop,
records. This package sits above ``methods`` in the layer order (docs/internals/layers.md).
"""
