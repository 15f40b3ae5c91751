"""tomoprune: compress neural networks while they train, and measure what it cost."""

__version__ = "0.1.0"

__all__ = ["Compressor", "Schedule", "load_compressed", "load_run_model"]


def __getattr__(name: str):
    """The Python API (``tomoprune.Compressor`` ...), imported on first use so the CLI starts
    without loading the tracing machinery."""
    if name in __all__:
        from tomoprune import api

        return getattr(api, name)
    raise AttributeError(f"module 'tomoprune' has no attribute {name!r}")
