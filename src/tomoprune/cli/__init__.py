"""The ``tomoprune`` command: subcommands only, no logic.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a function taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tomoprune import __version__
from tomoprune.errors import TomopruneError

EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    from tomoprune.cli import (
        analyze_cmd,
        compress_cmd,
        data_cmd,
        export_cmd,
        reproduce_cmd,
        run_cmd,
        sweep_cmd,
    )

    parser = argparse.ArgumentParser(
        prog="tomoprune",
        description="Compress neural networks while they train, and measure what it cost.",
    )
    parser.add_argument("--version", action="version", version=f"tomoprune {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (
        run_cmd,
        compress_cmd,
        reproduce_cmd,
        analyze_cmd,
        data_cmd,
        export_cmd,
        sweep_cmd,
    ):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 ok, 1-5 a TomopruneError, 130 Ctrl-C)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TomopruneError as exc:
        print(f"tomoprune: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "tomoprune: interrupted; finished cycles are saved (resume with --resume RUN_DIR).",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
