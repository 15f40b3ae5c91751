"""tomoprune: compress neural networks while they train, and measure what it cost."""

from importlib import import_module

__version__ = "0.1.0"

# public name -> module that defines it; imported on first use, so the CLI starts without
# loading torch and the tracing machinery (the settings classes' modules load no torch at all)
_EXPORTS = {
    "Compressor": "tomoprune.api",
    "Schedule": "tomoprune.api",
    "load_compressed": "tomoprune.api",
    "load_run_model": "tomoprune.api",
    "UnitScorer": "tomoprune.methods.neuron.scoring",
    "SCORERS": "tomoprune.methods.neuron.scoring",
    "DTC": "tomoprune.methods.neuron.scoring.settings",
    "Magnitude": "tomoprune.methods.neuron.scoring.settings",
    "Random": "tomoprune.methods.neuron.scoring.settings",
    "REGULARISERS": "tomoprune.methods.l0.settings",
    "RegulariserSettings": "tomoprune.methods.l0.settings",
    "regularise": "tomoprune.methods.l0.base",
    "DRR": "tomoprune.methods.l0.settings",
    "PMMP": "tomoprune.methods.l0.settings",
    "RL1": "tomoprune.methods.l0.settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """The Python API (``tomoprune.Compressor``, ``tomoprune.DTC`` ...), imported on first use."""
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tomoprune' has no attribute {name!r}")
