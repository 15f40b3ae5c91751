"""The ``tomoprune`` command: subcommands only, no logic.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a function taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
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


# command -> (module that registers it, one-line help). Only the module of the command being
# run is imported, so `tomoprune --help` answers before torch loads.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run_cmd", "train a model while compressing it; write a run directory"),
    "compare": ("run_cmd", "run several methods on the same data and settings, side by side"),
    "methods": ("run_cmd", "list the methods; `methods NAME` describes one method's settings"),
    "compress": ("compress_cmd", "compress a trained model after training; never trains"),
    "reproduce": ("reproduce_cmd", "reproduce a published experiment beside its numbers"),
    "analyze": ("analyze_cmd", "Gibbs entropy, correlations and controls of recorded runs"),
    "report": ("analyze_cmd", "analyse recorded runs into report.md and report.html"),
    "data": ("data_cmd", "download, inspect, verify datasets; compress files"),
    "export": ("export_cmd", "export a run's final model (ONNX), checked with onnxruntime"),
    "sweep": ("sweep_cmd", "run a sweep (seeds x methods x settings), aggregated over seeds"),
    "verify-results": (
        "verify_cmd",
        "recompute the published sweep numbers from the committed raw records",
    ),
}


def _top_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = OneLineParser(
        prog="tomoprune",
        description="Compress neural networks while they train, and measure what it cost.",
    )
    parser.add_argument("--version", action="version", version=f"tomoprune {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    return parser, subparsers


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command's options (``command``: only that command's module is
    imported; the others are listed by name and help line)."""
    parser, subparsers = _top_parser()
    modules = [COMMANDS[command][0]] if command in COMMANDS else []
    if command is None:
        modules = list(dict.fromkeys(module for module, _ in COMMANDS.values()))
    for module in modules:
        importlib.import_module(f"tomoprune.cli.{module}").register(subparsers)
    for name, (_, help_text) in COMMANDS.items():
        if name not in subparsers.choices:
            subparsers.add_parser(name, help=help_text, add_help=False)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (its first word that is not an option), if any."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 ok, 1-5 a TomopruneError, 130 Ctrl-C)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    if command not in COMMANDS:  # --help, --version, no command or an unknown one
        parser, subparsers = _top_parser()
        for name, (_, help_text) in COMMANDS.items():
            subparsers.add_parser(name, help=help_text)
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        return EXIT_USAGE
    try:
        precheck_settings(command, argv)
    except TomopruneError as exc:
        print(f"tomoprune: error: {exc}", file=sys.stderr)
        return exc.exit_code
    from tomoprune.runtime import prepare_thread_pools

    prepare_thread_pools()  # before torch starts its thread pools
    try:
        parser = build_parser(command)
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except TomopruneError as exc:  # e.g. the command's optional dependency is missing
        print(f"tomoprune: error: {exc}", file=sys.stderr)
        return exc.exit_code
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


# commands whose --set takes run settings (train.*, data.*, model.*, method.*)
RUN_SETTING_COMMANDS = ("run", "compare", "sweep")


def precheck_settings(command: str, argv: Sequence[str]) -> None:
    """Refuse a misspelt or ill-typed ``--set`` setting, or an unknown method, before torch loads.

    ``train.*/data.*/model.*`` keys are checked against ``tomoprune.config``; ``method.*`` keys
    against the settings of the method(s) named by ``--method``/``--methods`` (the torch-free
    method catalogue), for ``run``, ``compare`` and ``compress``.
    """
    if command not in (*RUN_SETTING_COMMANDS, "compress"):
        return
    from tomoprune import config as cfg

    overrides = cfg.parse_set_options(_option_values(argv, "--set"))
    if command != "compress":
        early = {
            k: v for k, v in overrides.items() if k.split(".")[0] in ("train", "data", "model")
        }
        cfg.apply_overrides(cfg.RunConfig(), early)
    names = [n for v in _option_values(argv, "--method", "--methods") for n in v.split(",") if n]
    if not names:
        return
    from tomoprune.methods import METHOD_REGISTRY, load_builtin_methods
    from tomoprune.methods.greedy.params import COMPRESS_ALIASES

    load_builtin_methods()
    method_keys = {k: v for k, v in overrides.items() if k.split(".")[0] == "method"}
    for name in names:
        if command == "compress":  # an unknown name: argparse lists the compress methods
            name = COMPRESS_ALIASES.get(name, name)
            if name not in METHOD_REGISTRY:
                continue
        spec = METHOD_REGISTRY.get(name)
        cfg.apply_overrides(cfg.RunConfig(method=name, params=spec.params_type()), method_keys)


def _option_values(argv: Sequence[str], *options: str) -> list[str]:
    """The values of ``--option VALUE`` and ``--option=VALUE`` in ``argv``, in order."""
    values = []
    for i, word in enumerate(argv):
        option, sep, value = word.partition("=")
        if option in options:
            if sep:
                values.append(value)
            elif i + 1 < len(argv):
                values.append(argv[i + 1])
    return values


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
