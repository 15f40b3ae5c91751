"""tomoprune: compress neural networks while they train, and measure what it cost."""

__version__ = "0.1.0"
