"""A smoothed plateau test: has the validation loss stopped improving?

The training loop measures the validation loss every ``eval_every`` steps and passes it to
``update``. The rule keeps an exponential moving average of the measurements::

    s_1 = v_1,    s_k = smoothing * s_{k-1} + (1 - smoothing) * v_k

and the best smoothed value seen so far. A measurement *improves* when
``s_k < best * (1 - min_relative_improvement)``; after ``patience`` measurements in a row
without improvement (and at least ``min_evaluations`` measurements in all) the phase has
converged. Smoothing keeps one noisy mini-batch-driven dip from resetting the count; the
relative threshold makes the rule independent of the loss's scale. A non-finite loss stops
the phase at once (training diverged; ``describe()`` says so).
"""

from __future__ import annotations

import math
from typing import Any


class PlateauStop:
    """``StopRule`` that fires when the smoothed validation loss stops improving."""

    def __init__(
        self,
        *,
        patience: int = 5,
        min_relative_improvement: float = 1e-3,
        smoothing: float = 0.5,
        min_evaluations: int = 1,
    ) -> None:
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}")
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if min_relative_improvement < 0:
            raise ValueError(
                f"min_relative_improvement must be >= 0, got {min_relative_improvement}"
            )
        self.patience = patience
        self.min_relative_improvement = min_relative_improvement
        self.smoothing = smoothing
        self.min_evaluations = min_evaluations
        self.smoothed: float | None = None
        self.best = math.inf
        self.best_step: int | None = None
        self.evaluations = 0
        self.since_improvement = 0
        self.diverged = False

    def update(self, step: int, validation_loss: float) -> bool:
        """Record the loss measured after ``step`` steps; True means the phase has converged."""
        self.evaluations += 1
        if not math.isfinite(validation_loss):
            self.diverged = True
            return True
        if self.smoothed is None:
            self.smoothed = validation_loss
        else:
            self.smoothed = self.smoothing * self.smoothed + (1 - self.smoothing) * validation_loss
        # with best = inf the first measurement always improves
        if (
            self.smoothed < self.best * (1.0 - self.min_relative_improvement)
            or self.best == math.inf
        ):
            self.best = self.smoothed
            self.best_step = step
            self.since_improvement = 0
        else:
            self.since_improvement += 1
        return self.evaluations >= self.min_evaluations and self.since_improvement >= self.patience

    def describe(self) -> dict[str, Any]:
        return {
            "rule": "plateau",
            "patience": self.patience,
            "min_relative_improvement": self.min_relative_improvement,
            "smoothing": self.smoothing,
            "min_evaluations": self.min_evaluations,
            "evaluations": self.evaluations,
            "best_smoothed_loss": None if self.best == math.inf else self.best,
            "best_step": self.best_step,
            "diverged": self.diverged,
        }
