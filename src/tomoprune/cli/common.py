"""Options and output shared by the subcommands."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from tomoprune.engine.progress import Reporter, RichReporter


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress bars or tables; print only the result path (for scripts)",
    )


def reporter_for(args: argparse.Namespace) -> Reporter:
    return Reporter() if args.quiet else RichReporter()


def console() -> Console:
    return Console()


def format_cell(value: Any, digits: int = 4) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def rows_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> Table:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*(format_cell(row.get(c)) for c in columns))
    return table
