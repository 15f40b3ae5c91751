"""The stream of training batches, resumable to the exact batch.

Two switches cover both profiles: ``shuffle`` (a seeded permutation per epoch, or the file's
order) and ``restart_each_cycle`` (every cycle starts again from the first batch, as the
published notebook did, or the order continues across cycles).
"""

from __future__ import annotations

from typing import Any

import torch


class BatchStream:
    """Yields ``(x, y)`` training batches of ``batch_size``; the last batch of an epoch is short."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        batch_size: int,
        shuffle: bool,
        restart_each_cycle: bool,
        seed: int,
    ) -> None:
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.restart_each_cycle = restart_each_cycle
        self.generator = torch.Generator().manual_seed(seed)
        self.n = x.shape[0]
        self.position = 0  # index of the next sample within the epoch's order
        self.epoch = 0
        self.order: torch.Tensor | None = None
        self._new_epoch(first=True)

    def _new_epoch(self, first: bool = False) -> None:
        if not first:
            self.epoch += 1
        self.position = 0
        if self.shuffle:
            self.order = torch.randperm(self.n, generator=self.generator).to(self.x.device)
        else:
            self.order = None

    def start_cycle(self) -> None:
        """Called at the start of every cycle; rewinds to the epoch's first batch if asked to."""
        if self.restart_each_cycle:
            self.position = 0

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.position >= self.n:
            self._new_epoch()
        start, stop = self.position, min(self.position + self.batch_size, self.n)
        self.position = stop
        if self.order is None:
            return self.x[start:stop], self.y[start:stop]
        index = self.order[start:stop]
        return self.x.index_select(0, index), self.y.index_select(0, index)

    def state_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "epoch": self.epoch,
            "generator": self.generator.get_state(),
            "order": None if self.order is None else self.order.cpu(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.position = int(state["position"])
        self.epoch = int(state["epoch"])
        self.generator.set_state(state["generator"])
        order = state["order"]
        self.order = None if order is None else order.to(self.x.device)
