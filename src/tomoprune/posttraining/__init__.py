"""Post-training compression of any ``nn.Module``: GPTQ, SparseGPT, Wanda, RTN, magnitude and
the randomized greedy compressor, one settings dataclass each, run by one driver::

    from tomoprune.posttraining import GPTQ, compress_
    report = compress_(model, GPTQ(bits=4, group_size=128, act_order=True),
                       calibration=loader, layers=["*.mlp.*"])

See ``docs/guide/post-training.md``. The names below are imported on first use: the settings
(``settings``) load no torch, so the command line can list and check them before torch loads.
"""

from importlib import import_module

# public name -> module that defines it
_EXPORTS = {
    "GPTQ": "settings",
    "Greedy": "settings",
    "Magnitude": "settings",
    "POSTTRAINING": "settings",
    "RTN": "settings",
    "SparseGPT": "settings",
    "Wanda": "settings",
    "Compressor": "settings",
    "LayerProblem": "base",
    "LayerResult": "base",
    "PostTrainingReport": "driver",
    "compress_": "driver",
    "select_layers": "driver",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """The public names of the package, imported on first use."""
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
