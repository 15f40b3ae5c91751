"""Text files as byte data: finding the file, cutting it into segments, building the task.

A file of ``N`` bytes is cut into ``N // L`` aligned segments of ``L`` bytes (``L`` = the
model's context) and a tail of ``N % L`` bytes. Each segment is modelled on its own: its input
is ``[BOS, b_0, ..., b_{L-2}]`` and its targets ``[b_0, ..., b_{L-1}]``, so the segments are
both the training samples and the units of the arithmetic code (independent segments are what
lets the decoder run them in parallel).

Search order for the default file (``world192.txt``): ``$TOMOPRUNE_DATA/text/``, then
``../shared/data/text/`` beside the current folder, then beside the source checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from tomoprune.data.locate import ENV_VAR
from tomoprune.data.task import Task
from tomoprune.errors import DataError
from tomoprune.models.transformer import BOS

DEFAULT_TEXT = "world192.txt"


def default_text_candidates() -> list[Path]:
    """Where the default text file is looked for, in order."""
    candidates = []
    env = os.environ.get(ENV_VAR)
    if env:
        candidates.append(Path(env) / "text" / DEFAULT_TEXT)
    candidates.append(Path.cwd().parent / "shared" / "data" / "text" / DEFAULT_TEXT)
    checkout = Path(__file__).resolve().parents[3]  # src/tomoprune/data -> the checkout
    candidates.append(checkout.parent / "shared" / "data" / "text" / DEFAULT_TEXT)
    return candidates


def find_text_file(path: str | Path | None) -> Path:
    """The file the user named, or the default text; a clear error when it is not there."""
    if path is not None:
        found = Path(path)
        if not found.is_file():
            raise DataError(f"{found}: text file not found; pass an existing file with --text.")
        return found
    candidates = default_text_candidates()
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise DataError(f"{DEFAULT_TEXT} not found (looked in {tried}); pass a file with --text.")


def read_bytes(path: str | Path, *, min_bytes: int = 1) -> bytes:
    """The file's bytes; empty (or shorter than ``min_bytes``) files are rejected."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror}); check the path.") from None
    if len(data) < min_bytes:
        raise DataError(
            f"{path}: {len(data)} bytes; at least {min_bytes} are needed, pass a longer file."
        )
    return data


def as_tensor(data: bytes) -> torch.Tensor:
    """Bytes as a ``(N,)`` int64 tensor."""
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).to(torch.int64)


def segment_inputs(targets: torch.Tensor) -> torch.Tensor:
    """``(S, L)`` target bytes -> ``(S, L)`` inputs: BOS, then the targets shifted right."""
    bos = torch.full((targets.shape[0], 1), BOS, dtype=torch.int64)
    return torch.cat([bos, targets[:, :-1]], dim=1)


def segments(data: bytes, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(full, tail)``: ``(N // length, length)`` aligned segments and the ``(N % length,)``
    remainder, as int64 byte tensors."""
    values = as_tensor(data)
    full = len(data) // length
    return values[: full * length].view(full, length), values[full * length :]


def text_task(
    data: bytes, *, context: int, calibration_segments: int, seed: int, name: str = "text"
) -> Task:
    """A language-model ``Task`` over the file's aligned segments.

    The model is trained on every segment (the description length counts the code of the whole
    file under the model, so the file is the training set); the calibration split (plateau
    test, TAMADE) and the loop's test split are the same seeded sample of
    ``calibration_segments`` segments.
    """
    full, _ = segments(data, context)
    if full.shape[0] == 0:
        raise DataError(f"{name}: {len(data)} bytes is shorter than one segment of {context}.")
    order = torch.randperm(full.shape[0], generator=torch.Generator().manual_seed(seed))
    pick = order[: min(calibration_segments, full.shape[0])].sort().values
    x, y = segment_inputs(full), full
    return Task(
        name=name,
        train_x=x,
        train_y=y,
        test_x=x[pick],
        test_y=y[pick],
        input_shape=(context,),
        num_outputs=256,
        kind="language-model",
        val_x=x[pick],
        val_y=y[pick],
    )
