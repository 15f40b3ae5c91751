"""Progress reporting for long runs: rich progress bars, or nothing with ``--quiet``."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Reporter:
    """Silent reporter; the base for the visible one."""

    def start(self, title: str, total_cycles: int | None) -> None: ...

    def start_phase(self, cycle: int, name: str, steps: int) -> None: ...

    def step(self, step: int) -> None: ...

    def end_cycle(self, row: dict[str, Any]) -> None: ...

    def stop(self) -> None: ...


class RichReporter(Reporter):
    """A cycle bar and a step bar; one log line per finished cycle."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.cycles_task = None
        self.steps_task = None

    def start(self, title: str, total_cycles: int | None) -> None:
        self.progress.start()
        self.cycles_task = self.progress.add_task(title, total=total_cycles)
        self.steps_task = self.progress.add_task("training", total=1)

    def start_phase(self, cycle: int, name: str, steps: int) -> None:
        self.progress.reset(self.steps_task, total=steps, description=f"cycle {cycle}: {name}")

    def step(self, step: int) -> None:
        self.progress.update(self.steps_task, completed=step)

    def end_cycle(self, row: dict[str, Any]) -> None:
        self.progress.advance(self.cycles_task)
        accuracy = row.get("test_accuracy")
        shown = f"{accuracy:.4f}" if isinstance(accuracy, float) else "-"
        self.console.print(
            f"cycle {row['cycle']:>3}  width {row['width']:>5}  sparsity {row['sparsity']:.4f}  "
            f"test accuracy {shown}  loss {row['train_loss']:.4f}"
        )

    def stop(self) -> None:
        self.progress.stop()
