"""The ``tomoprune`` command: subcommands only, no logic.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a function taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from tomoprune import __version__
from tomoprune.errors import TomopruneError

EXIT_INTERRUPTED = 130
EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the fix (no usage block)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"tomoprune: error: {message} (see `{self.prog} --help`).\n")


def build_parser() -> argparse.ArgumentParser:
    from tomoprune.cli import (
        analyze_cmd,
        compress_cmd,
        data_cmd,
        export_cmd,
        reproduce_cmd,
        run_cmd,
        sweep_cmd,
        verify_cmd,
    )

    parser = OneLineParser(
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
        verify_cmd,
    ):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 ok, 1-5 a TomopruneError, 130 Ctrl-C)."""
    from tomoprune.runtime import prepare_thread_pools

    prepare_thread_pools()  # before torch starts its thread pools
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        with warnings.catch_warnings():
            quiet_library_warnings()
            return int(args.func(args) or 0)
    except TomopruneError as exc:
        print(f"tomoprune: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print(f"tomoprune: {interrupted_message(exc)}", file=sys.stderr)
        return EXIT_INTERRUPTED


def interrupted_message(exc: KeyboardInterrupt) -> str:
    """Where the finished work is and how to go on (the real path, not a placeholder)."""
    run_dir = getattr(exc, "run_dir", None)
    if run_dir is None:
        return "interrupted; records already complete are kept (run the same command again)."
    cycles = getattr(exc, "cycles", 0)
    return (
        f"interrupted; {cycles} finished cycle(s) saved in {run_dir.resolve()}; run the same "
        "command again to continue from there, or add --overwrite to start afresh."
    )


def quiet_library_warnings() -> None:
    """Hide library warnings a user cannot act on; what matters is said in our own errors."""
    for module in ("torch", "sklearn", "statsmodels", "cvxpy", "matplotlib", "numpy", "scipy"):
        warnings.filterwarnings("ignore", module=rf"{module}(\.|$)")


if __name__ == "__main__":
    sys.exit(main())
