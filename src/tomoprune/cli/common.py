"""Options and output shared by the subcommands.

Light to import (no numpy, no torch): the parsers are built from here before any command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tomoprune.engine.progress import Reporter, RichReporter
from tomoprune.errors import ConfigError


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress bars or tables; print only the result path (for scripts)",
    )


def output_dir(path: str, *, create: bool = True) -> Path:
    """``--out`` as a directory (created), or a ConfigError when it names a file."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ConfigError(
            f"The '--out' option must name a directory; {out} is a file. Choose another --out."
        )
    if create:
        out.mkdir(parents=True, exist_ok=True)
    return out


def add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        metavar="N|auto",
        help="PyTorch threads: a count, or auto (the cores not busy now; numbers may then "
        "differ in the last bits between runs). Default: the cores this process may use, or "
        "$OMP_NUM_THREADS",
    )


def threads_from_args(args: argparse.Namespace) -> int | None:
    from tomoprune.runtime import parse_threads

    return parse_threads(getattr(args, "threads", None))


def reporter_for(args: argparse.Namespace) -> Reporter:
    return Reporter() if args.quiet else RichReporter()


def console() -> Console:
    return Console()


def format_cell(value: Any, digits: int = 4, **options: Any) -> str:
    """``tomoprune.records.tables.format_cell`` (imported when a table is printed: numpy)."""
    from tomoprune.records.tables import format_cell as cell

    return cell(value, digits, **options)


def rows_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> Table:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*(format_cell(row.get(c)) for c in columns))
    return table
