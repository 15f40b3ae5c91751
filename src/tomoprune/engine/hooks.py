"""The one extension point of the training loop.

A hook changes how a training phase runs without changing the loop: a regulariser adds a
penalty or edits gradients, a mask re-zeroes pruned weights after every step, a constrained
method projects its variables. Every method (DTC and baselines, the l0 family, post-training
compressors) extends training through this class and nothing else.

Order inside one optimisation step::

    loss = criterion(model(x), y) + sum(hook.penalty(model) for hooks)   # autograd penalties
    loss.backward()
    for hook in hooks: hook.before_step(model, optimizer)   # edit .grad (subgradients, masks)
    optimizer.step()
    for hook in hooks: hook.after_step(model, optimizer)    # project, clip, re-apply masks
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class TrainingHook:
    """Base class with no-op defaults; override only what the method needs."""

    name = "hook"

    def on_phase_start(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Called once before the first step of a phase (e.g. create companion variables)."""

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        """A differentiable term added to the data loss, or None."""
        return None

    def before_step(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Edit gradients after ``backward`` and before the optimizer step."""

    def after_step(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Adjust parameters after the optimizer step (projection, clipping, masking)."""

    def on_phase_end(self, model: nn.Module) -> None:
        """Called once after the last step of a phase."""

    def metrics(self) -> dict[str, float]:
        """Numbers worth recording for the phase just run (e.g. current penalty value)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """State needed to resume (tensors allowed); stateless hooks return {}."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""
