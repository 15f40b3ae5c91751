"""The atomic writers and readers under their older name; they live in ``tomoprune.fileio``
(the core layer, so that models and structure can write files without importing records)."""

from tomoprune.fileio import (
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
    csv_value,
    read_csv,
    read_json,
)

__all__ = [
    "atomic_write_bytes",
    "atomic_write_csv",
    "atomic_write_json",
    "atomic_write_text",
    "csv_value",
    "read_csv",
    "read_json",
]
