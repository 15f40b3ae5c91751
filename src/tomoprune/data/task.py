"""A task: the tensors a run trains, calibrates and tests on, and how it is scored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch


@dataclass(frozen=True)
class Task:
    """Training, validation (optional) and test tensors, already normalised and on the device.

    ``kind`` selects the loss: cross-entropy for "classification", mean squared error for
    "regression" (the teacher-student experiment), next-byte cross-entropy over every position
    for "language-model" (inputs and targets ``(samples, length)`` byte ids; see
    ``data.text``).
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    input_shape: tuple[int, ...]
    num_outputs: int
    kind: Literal["classification", "regression", "language-model"] = "classification"
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None

    def to(self, device: torch.device) -> Task:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        return Task(
            name=self.name,
            train_x=move(self.train_x),
            train_y=move(self.train_y),
            test_x=move(self.test_x),
            test_y=move(self.test_y),
            input_shape=self.input_shape,
            num_outputs=self.num_outputs,
            kind=self.kind,
            val_x=move(self.val_x),
            val_y=move(self.val_y),
        )

    @property
    def calibration(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The validation split, or the training split when there is none."""
        if self.val_x is not None and self.val_y is not None:
            return self.val_x, self.val_y
        return self.train_x, self.train_y
