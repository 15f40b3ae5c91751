"""A run directory: the records of one run, each written atomically (layout in schema.py)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tomoprune.errors import RecordError
from tomoprune.fileio import atomic_write_bytes, atomic_write_csv, atomic_write_json, read_json
from tomoprune.models.spec import load_model, save_model
from tomoprune.records import schema

CHECKPOINT_FILE = "state.pt"


class RunDirectory:
    """Reads and writes the files of one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    # -- config --------------------------------------------------------------------------
    def write_config(self, payload: dict[str, Any]) -> None:
        atomic_write_json(self.file(schema.CONFIG_FILE), payload)

    def read_config(self) -> dict[str, Any]:
        if not self.path.is_dir():
            raise RecordError(f"{self.path}: run directory not found.")
        return read_json(self.file(schema.CONFIG_FILE))

    # -- per-cycle records ---------------------------------------------------------------
    def write_cycles(self, rows: list[dict[str, Any]]) -> None:
        columns = list(schema.CYCLE_COLUMNS)
        for row in rows:
            columns += [k for k in row if k not in columns]
        atomic_write_csv(self.file(schema.CYCLES_FILE), columns, rows)

    def write_phases(self, rows: list[dict[str, Any]]) -> None:
        columns: list[str] = []
        for row in rows:
            columns += [k for k in row if k not in columns]
        atomic_write_csv(self.file(schema.PHASES_FILE), columns, rows)

    def write_measurements(self, cycles: list[dict[str, Any]]) -> None:
        """``measurements.json``: the method's per-cycle measurement entries, and under
        ``layers`` the names of the measured vectors as the method wrote them (the keys of the
        first entry's ``measurements``; DTC's are "previous_layer" and "next_layer")."""
        layers = list(cycles[0].get("measurements", {})) if cycles else []
        atomic_write_json(
            self.file(schema.MEASUREMENTS_FILE),
            {"layers": layers, "cycles": cycles},
        )

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_json(self.file(schema.SUMMARY_FILE), summary)

    def write_accounting(self, accounting: dict[str, Any]) -> None:
        atomic_write_json(self.file(schema.ACCOUNTING_FILE), accounting)

    def read_accounting(self) -> dict[str, Any] | None:
        path = self.file(schema.ACCOUNTING_FILE)
        return read_json(path) if path.is_file() else None

    # -- model ---------------------------------------------------------------------------
    def save_model(self, model: nn.Sequential) -> None:
        save_model(model, self.file(schema.MODEL_FILE), self.file(schema.MODEL_SPEC_FILE))

    def load_model(self, device: str | torch.device = "cpu") -> nn.Sequential:
        return load_model(self.file(schema.MODEL_FILE), self.file(schema.MODEL_SPEC_FILE), device)

    # -- checkpoint ----------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.path / schema.CHECKPOINT_DIR / CHECKPOINT_FILE

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Everything needed to continue after the last finished cycle, in one atomic file."""
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.checkpoint_path, buffer.getvalue())

    def load_checkpoint(self) -> dict[str, Any] | None:
        if not self.checkpoint_path.is_file():
            return None
        try:
            return torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        except Exception as exc:  # torch raises several types for a damaged file
            raise RecordError(
                f"{self.checkpoint_path}: checkpoint unreadable ({type(exc).__name__}); "
                "pass --overwrite to start the run afresh."
            ) from None
