"""The module types that act on every element on its own (one definition for every method).

Such a module keeps the shape and has no per-unit tensors, so a unit can be removed on both
sides of it, and a pair of layers with only these modules between them can be compressed as a
pair. ``ZERO_AT_ZERO`` are the activations with ``f(0) = 0``: a unit whose input weights are
all zero stays silent through them (Sigmoid, ``f(0) = 1/2``, does not).
"""

from __future__ import annotations

from torch import nn

ZERO_AT_ZERO = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.ELU, nn.Tanh)
ELEMENTWISE = (*ZERO_AT_ZERO, nn.Sigmoid, nn.Identity, nn.Dropout)
