"""THE table renderer: one way to format a cell and one way to write a Markdown table.

Every ``.md`` table a command writes (``comparison.md``, ``l0_table.md``, the reports, the sweep
summary, ...) and every console table goes through ``format_cell``, so a missing value, a float
and a large count read the same everywhere; ``markdown_table`` writes the GitHub-flavoured
table. It sits beside the records (it needs nothing but the standard library) so that every
layer above may use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

MISSING = "-"


def format_cell(
    value: Any,
    digits: int = 4,
    *,
    thousands: bool = False,
    missing: str = MISSING,
    clip_zero: bool = False,
    significant: bool = False,
) -> str:
    """One table cell.

    Parameters
    ----------
    value
        None, an empty string and NaN read as ``missing``; a float gets ``digits`` decimals
        (infinity reads ``inf``); an int is printed as it is; anything else as ``str``.
    thousands : bool
        Group thousands with commas (``12,345``; ``1,234.5``).
    clip_zero : bool
        Print rounding noise around zero (``-1.4e-10`` at 4 digits) as ``0.0000``, not
        ``-0.0000``.
    significant : bool
        ``digits`` significant digits (``0.001235``, ``1.235e+05``) instead of decimals.
    """
    if value is None or (isinstance(value, str) and value == ""):
        return missing
    if isinstance(value, bool):
        return str(value)
    comma = "," if thousands else ""
    if isinstance(value, float):
        if math.isnan(value):
            return missing
        if significant:
            return f"{value:{comma}.{digits}g}"
        if clip_zero and abs(value) < 0.5 * 10**-digits:
            value = 0.0
        return f"{value:{comma}.{digits}f}"
    if isinstance(value, int):
        return f"{value:{comma}}"
    return str(value)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], *, align: str | None = None
) -> str:
    """A GitHub-flavoured Markdown table (no trailing newline).

    ``rows`` hold cells: text is written as given (``|`` escaped), other values through
    ``format_cell``. ``align`` has one letter per column, ``l`` (``---``) or ``r``
    (``---:``); default all ``l``.
    """
    align = align or "l" * len(header)
    if len(align) != len(header) or set(align) - {"l", "r"}:
        raise ValueError(f"align must give l or r for each of the {len(header)} columns: {align!r}")
    rule = "|" + "".join("---:|" if a == "r" else "---|" for a in align)
    lines = ["| " + " | ".join(_escape(str(h)) for h in header) + " |", rule]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row has {len(row)} cells for {len(header)} columns: {row!r}")
        cells = [_escape(c) if isinstance(c, str) else format_cell(c) for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
