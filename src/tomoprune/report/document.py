"""A tiny document model rendered to Markdown and to one self-contained HTML page.

The report is built once as a list of blocks; Markdown links figures by relative path, HTML
embeds them as base64 PNG and carries its CSS inline, so the page can be mailed on its own.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tomoprune.records.tables import markdown_table


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str
    answer: bool = False  # the report's bottom line, set off from the rest


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Figure:
    path: str  # relative to the report folder
    caption: str


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Details:
    """Blocks folded under a one-line summary (HTML ``<details>``), for the long detail."""

    summary: str
    blocks: tuple  # of Block


Block = Heading | Paragraph | Bullets | Table | Figure | Code | Details

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; max-width: 72rem;
       margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }
h1, h2, h3 { color: #123; } h2 { border-bottom: 1px solid #ccd; padding-bottom: .2rem; }
.table { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .85rem; }
th, td { border: 1px solid #ccd; padding: .25rem .45rem; text-align: right; }
td { white-space: nowrap; } th { vertical-align: bottom; } td.t { text-align: left; }
p.answer { font-size: 1.08rem; background: #f3f7ee; border-left: 4px solid #5a8f29;
       padding: .6rem .8rem; }
details { margin: .6rem 0; border: 1px solid #dde; border-radius: 4px; padding: .3rem .7rem; }
summary { cursor: pointer; font-weight: 600; color: #123; }
th { background: #eef1f6; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #dde; }
figcaption { font-size: .9rem; color: #445; } pre { background: #f5f6f8; padding: .6rem;
       overflow-x: auto; font-size: .8rem; } li { margin: .2rem 0; }
"""


def _align(cell: str) -> str:
    """Numbers right-aligned (the default), words left-aligned."""
    numeric = cell[:1].isdigit() or cell[:1] in "-−[<(—" or cell.startswith("< ")
    return "" if numeric else ' class="t"'


def render_markdown(blocks: Sequence[Block]) -> str:
    """Markdown (GitHub flavour) of the blocks; figures link their relative paths."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Details):
            inner = render_markdown(b.blocks).strip()
            out.append(f"<details><summary>{b.summary}</summary>\n\n{inner}\n\n</details>")
        elif isinstance(b, Heading):
            out.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Paragraph):
            out.append(b.text)
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {item}" for item in b.items))
        elif isinstance(b, Table):
            out.append(markdown_table(b.header, [tuple(map(str, row)) for row in b.rows]))
        elif isinstance(b, Figure):
            out.append(f"![{b.caption}]({b.path})\n\n*{b.caption}*")
        elif isinstance(b, Code):
            out.append(f"```\n{b.text}\n```")
    return "\n\n".join(out) + "\n"


def _data_uri(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def render_html(blocks: Sequence[Block], *, title: str, base_dir: str | os.PathLike[str]) -> str:
    """One HTML page with inline CSS and every figure embedded as a base64 PNG."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n"
        + _html_body(blocks, Path(base_dir))
        + "\n</body></html>\n"
    )


def _html_body(blocks: Sequence[Block], base: Path) -> str:
    esc = html.escape
    body: list[str] = []
    for b in blocks:
        if isinstance(b, Details):
            inner = _html_body(b.blocks, base)
            body.append(f"<details><summary>{esc(b.summary)}</summary>\n{inner}\n</details>")
        elif isinstance(b, Heading):
            body.append(f"<h{b.level}>{esc(b.text)}</h{b.level}>")
        elif isinstance(b, Paragraph):
            css = ' class="answer"' if b.answer else ""
            body.append(f"<p{css}>{esc(b.text)}</p>")
        elif isinstance(b, Bullets):
            body.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{esc(h)}</th>" for h in b.header)
            rows = "".join(
                "<tr>" + "".join(f"<td{_align(c)}>{esc(c)}</td>" for c in row) + "</tr>"
                for row in b.rows
            )
            body.append(
                f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{rows}'
                "</tbody></table></div>"
            )
        elif isinstance(b, Figure):
            uri = _data_uri(base / b.path)
            img = (
                f'<img src="{uri}" alt="{esc(b.caption)}">'
                if uri
                else f"<p>(figure {esc(b.path)} missing)</p>"
            )
            body.append(f"<figure>{img}<figcaption>{esc(b.caption)}</figcaption></figure>")
        elif isinstance(b, Code):
            body.append(f"<pre>{esc(b.text)}</pre>")
    return "\n".join(body)
