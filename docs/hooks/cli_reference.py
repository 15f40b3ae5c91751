"""The command-line reference page (``cli.md``), written from tomoprune's own argparse parser.

An mkdocs hook (``hooks:`` in ``mkdocs.yml``): on every build it walks
``tomoprune.cli.build_parser()`` and adds ``cli.md`` to the site as a generated page, so the
reference can never fall behind the commands; nothing is committed that could go stale or
conflict when several branches add commands. ``python docs/hooks/cli_reference.py [FILE]``
writes the same Markdown to a file (or stdout) to read it without building the site.

Every command gets its one-line summary, its description, its usage line, one table per
argument group (option, what it does) and its epilog (e.g. the method catalogue of ``run``).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator

USAGE_WIDTH = 96  # fixed, so the page does not depend on the terminal that built it
CLI_PAGE = "cli.md"

HEADER = """# Command-line reference

Generated from `tomoprune --help` and the help of every subcommand each time the site is built
(`docs/hooks/cli_reference.py`), so it always matches the installed commands. The guide pages
explain what the commands are for; `tomoprune COMMAND --help` prints the same text in a terminal.

**Exit codes**: 0 success, 1 other tomoprune error, 2 configuration, 3 data, 4 solver,
5 records, 6 reproduction check failed (`--strict`), 7 some runs of a sweep failed (the others
finished), 130 interrupted (finished cycles are kept). Every error a user can cause is one line
on stderr naming the setting, the allowed values, the value given and the flag to change.
"""

_PROSE_SPECIAL = re.compile(r"([\\*_\[\]])")
_CODE_SPAN = re.compile(r"(`[^`]+`)")


def escape(text: str, *, in_table: bool = False) -> str:
    """Markdown-safe prose: outside `code spans`, characters Markdown would interpret are
    escaped (``<`` as an entity, so ``OUT/<method>/`` is not read as an HTML tag), and in a table
    cell the pipe, which would end the cell. Code spans stay as they are: the tables extension
    does not split a cell inside one, and a backslash there would be printed."""
    pieces = []
    for part in _CODE_SPAN.split(text):
        if not _CODE_SPAN.fullmatch(part):
            part = _PROSE_SPECIAL.sub(r"\\\1", part).replace("<", "&lt;")
            part = part.replace("|", "\\|") if in_table else part
        pieces.append(part)
    return "".join(pieces)


def _cell(text: str) -> str:
    """A table cell: one line, escaped."""
    return escape(" ".join(text.split()), in_table=True)


def subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each direct subcommand, in registration order."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                found.append((name, helps.get(name, ""), sub))
    return found


def walk(
    parser: argparse.ArgumentParser, summary: str = "", depth: int = 1
) -> Iterator[tuple[int, str, argparse.ArgumentParser]]:
    """Every parser below ``parser`` (itself first), with its depth and one-line summary."""
    yield depth, summary, parser
    for _name, help_text, sub in subcommands(parser):
        yield from walk(sub, help_text, depth + 1)


def usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=USAGE_WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def option_rows(parser: argparse.ArgumentParser) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """(group title, [(invocation, help)]) for every argument group with visible options."""
    formatter = parser._get_formatter()
    for group in parser._action_groups:
        rows = []
        for action in group._group_actions:
            if action.help == argparse.SUPPRESS or isinstance(
                action, argparse._SubParsersAction | argparse._HelpAction
            ):
                continue
            text = formatter._expand_help(action) if action.help else ""
            if action.option_strings:
                invocation = formatter._format_action_invocation(action)
            else:  # a positional: its name, and its choices spelt out in the help
                invocation = action.metavar or action.dest
                if action.choices:
                    text = f"{text} (one of: {', '.join(map(str, action.choices))})".strip()
            if action.required and action.option_strings:
                text = f"{text} (required)".strip()
            rows.append((invocation, text))
        if rows:
            yield group.title or "options", rows


def render_parser(depth: int, summary: str, parser: argparse.ArgumentParser) -> str:
    lines = [f"{'#' * depth} `{parser.prog}`", ""]
    if summary:
        lines += [escape(summary) + ".", ""]  # as written: "l0 paper" must stay lower case
    if parser.description and parser.description != summary:
        lines += [escape(" ".join(parser.description.split())), ""]
    lines += ["```text", usage(parser), "```", ""]
    for title, rows in option_rows(parser):
        lines += [f"| {escape(title)} | what it does |", "|---|---|"]
        lines += [f"| {_cell(f'`{invocation}`')} | {_cell(text)} |" for invocation, text in rows]
        lines.append("")
    children = subcommands(parser)
    if children:
        lines += ["Subcommands:", ""]
        lines += [f"- `{sub.prog}`: {escape(text)}" for _name, text, sub in children]
        lines.append("")
    if parser.epilog:
        lines += ["```text", parser.epilog.strip("\n"), "```", ""]
    return "\n".join(lines)


def render(parser: argparse.ArgumentParser | None = None) -> str:
    """The whole reference page as Markdown."""
    if parser is None:
        from tomoprune.cli import build_parser

        parser = build_parser()
    sections = [HEADER]
    for depth, summary, sub in walk(parser):
        if depth == 1:  # the top-level `tomoprune` itself: usage and the command list
            sections.append(render_parser(2, "", sub))
        else:
            sections.append(render_parser(min(depth + 1, 6), summary, sub))
    return "\n".join(sections).rstrip("\n") + "\n"


def on_files(files, config):  # mkdocs hook
    """Add the generated ``cli.md`` to the site (in memory: nothing written under docs/)."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, CLI_PAGE, content=render()))
    return files


if __name__ == "__main__":
    text = render()
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
