"""Code lengths of a byte string under a byte transformer, and the description length.

The code is the one ``codec`` writes: the file's aligned segments of ``context`` bytes (and the
shorter tail), each coded on its own from ``BOS``, every byte with the model's next-byte
distribution. Its ideal length is the summed cross-entropy ``sum -log2 p(byte | segment so
far)``; the arithmetic coder adds a few bytes to it.

Description length = ``8 x model bytes + data bits`` (the two-part code: first the model, then
the data given the model).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tomoprune.data.text import segment_inputs, segments
from tomoprune.models.transformer import ByteTransformer

LN2 = math.log(2.0)


@dataclass(frozen=True)
class DescriptionLength:
    bytes_coded: int
    model_bytes: int
    data_bits: float

    @property
    def total_bits(self) -> float:
        return 8.0 * self.model_bytes + self.data_bits

    @property
    def bits_per_byte(self) -> float:
        return self.total_bits / self.bytes_coded

    @property
    def data_bits_per_byte(self) -> float:
        return self.data_bits / self.bytes_coded


@torch.inference_mode()
def segment_bits(model: ByteTransformer, targets: torch.Tensor) -> torch.Tensor:
    """``(S, L)`` target bytes -> ``(S,)`` code lengths in bits (float64), each segment from BOS."""
    logits = model(segment_inputs(targets))  # (S, L, 256)
    nats = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none"
    )
    return nats.view(targets.shape).double().sum(dim=1) / LN2


def code_length_bits(
    model: ByteTransformer,
    data: bytes,
    *,
    batch_segments: int = 256,
    on_progress: Callable[[int], None] | None = None,
) -> float:
    """Summed cross-entropy of ``data`` under ``model``, in bits (segments as the codec cuts them).

    ``on_progress(bytes done)`` is called after every batch.
    """
    was_training = model.training
    model.eval()
    full, tail = segments(data, model.config.context)
    total = 0.0
    for start in range(0, full.shape[0], batch_segments):
        chunk = full[start : start + batch_segments]
        total += float(segment_bits(model, chunk).sum())
        if on_progress is not None:
            on_progress((start + chunk.shape[0]) * model.config.context)
    if tail.numel():
        total += float(segment_bits(model, tail[None]).sum())
    if on_progress is not None:
        on_progress(len(data))
    model.train(was_training)
    return total
