"""``tomoprune sweep SPEC.toml --out DIR``: many runs (seeds, methods, settings), then their
aggregate: means and confidence intervals over seeds, paired comparisons, figures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tomoprune import config as cfg
from tomoprune.cli.common import add_quiet, console, rows_table
from tomoprune.sweeps.execute import BACKENDS, DEFAULT_TORCH_THREADS, RunOutcome
from tomoprune.sweeps.spec import load_spec

EXIT_RUNS_FAILED = 7
EXIT_INTERRUPTED = 130


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="run a sweep (seeds x methods x settings) and aggregate it over seeds",
        description="Expand SPEC.toml into runs under DIR/runs/ (finished runs are skipped, "
        "interrupted ones resumed, a failing one reported at the end), then write DIR/aggregate/ "
        "(means and 95%% intervals over seeds, paired comparisons, figures).",
    )
    parser.add_argument("spec", help="sweep spec (TOML; see configs/sweeps/)")
    parser.add_argument("--out", required=True, help="sweep directory (created or continued)")
    parser.add_argument("--data-dir", help="directory holding the dataset's files")
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a setting of every run (repeatable)",
    )
    add_backend_options(parser)
    parser.add_argument(
        "--threads-per-run",
        type=int,
        default=DEFAULT_TORCH_THREADS,
        help=f"torch threads of each run (default {DEFAULT_TORCH_THREADS}, chosen by measurement)",
    )
    parser.add_argument(
        "--reuse",
        action="append",
        default=[],
        metavar="SWEEP_DIR",
        help="link runs finished with the same settings in another sweep directory (repeatable)",
    )
    parser.add_argument(
        "--no-aggregate", action="store_true", help="only run; aggregate later with report"
    )
    add_quiet(parser)
    parser.set_defaults(func=sweep_command)


def add_backend_options(
    parser: argparse.ArgumentParser, *, default: str = "local", runs: str = "the runs"
) -> None:
    """``--backend``, ``--workers`` and ``--address``: where the executor runs ``runs``."""
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=default,
        help=f"where {runs} run: inline (this process, one after another), local (a process "
        f"pool) or ray (a Ray cluster); default {default}",
    )
    parser.add_argument(
        "--workers", type=int, help="runs at once, local backend (default: cores / threads)"
    )
    parser.add_argument(
        "--address",
        help="Ray cluster to join: auto or HOST:PORT (default: start a local Ray instance)",
    )


def outcome_line(outcome: RunOutcome) -> str:
    """``dtc: finished (12 s)``, ``dtc: failed (3 s) - ValueError: ...``."""
    verb = {
        "finished": "resumed and finished" if outcome.resumed else "finished",
        "skipped": "finished before, reused",
    }.get(outcome.status, outcome.status)
    line = f"{outcome.name}: {verb} ({outcome.seconds:.0f} s)"
    return line + (f" - {outcome.error}" if outcome.error else "")


def failure_message(failures: list[RunOutcome], total: int, state_dir: Path) -> str:
    """The one-line end of a command some of whose runs failed (it exits with 7)."""
    names = ", ".join(o.name for o in failures)
    return (
        f"tomoprune: {len(failures)} of {total} runs failed: {names} (details in "
        f"{state_dir / 'status.json'} and each run's error.txt; re-run the same command to "
        "retry them)"
    )


class SweepProgress:
    """One bar: runs done / total, failures, elapsed and ETA (nothing under --quiet)."""

    def __init__(self, quiet: bool, name: str) -> None:
        self.failures = 0
        self.name = name
        self.progress = None
        self.task = None
        self.console = Console(stderr=True)
        if not quiet:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("runs  {task.fields[failures]} failed"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )

    def __call__(self, done: int, total: int) -> None:
        if self.progress is None:
            return
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task(self.name, total=total, failures=0)
            if done:  # finished before this session: not part of the speed estimate
                self.progress.update(self.task, completed=done)
                self.progress.reset(self.task, total=total, completed=done, failures=0)
            return
        self.progress.update(self.task, completed=done, failures=self.failures)

    def done(self, outcome: RunOutcome) -> None:
        if not outcome.ok:
            self.failures += 1
        if self.progress is not None:
            self.progress.console.print(outcome_line(outcome))

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def sweep_command(args: argparse.Namespace) -> int:
    from tomoprune.sweeps.runner import run_sweep  # the engine (torch): only when a sweep runs

    spec = load_spec(args.spec)
    overrides: dict[str, str] = cfg.parse_set_options(args.overrides)
    if args.data_dir:
        overrides["data.data_dir"] = args.data_dir
    bar = SweepProgress(args.quiet, spec.name)
    try:
        result = run_sweep(
            spec,
            Path(args.out),
            overrides=overrides,
            backend=args.backend,
            workers=args.workers,
            address=args.address,
            torch_threads=args.threads_per_run,
            reuse=[Path(p) for p in args.reuse],
            progress=bar,
            on_done=bar.done,
        )
    except KeyboardInterrupt:
        bar.stop()
        print(
            "tomoprune: sweep interrupted; re-run the same command to finish it (finished runs "
            "are kept, interrupted ones resume from their last cycle).",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    finally:
        bar.stop()
    summary = None
    if not args.no_aggregate:
        from tomoprune.reproduce.paper import published_points
        from tomoprune.sweeps.aggregate import aggregate_sweep

        summary = aggregate_sweep(Path(args.out), published=published_points())
    if args.quiet:
        print(Path(args.out))
    else:
        show(result, summary)
    if result.failures:
        print(failure_message(result.failures, result.total, Path(args.out)), file=sys.stderr)
        return EXIT_RUNS_FAILED
    return 0


def show(result, summary) -> None:
    out = console()
    ran = [o for o in result.outcomes if o.status == "finished"]
    out.print(
        f"{result.total} runs: {result.already_finished} already finished, {len(ran)} ran now "
        f"in {result.seconds:.0f} s, {len(result.failures)} failed."
    )
    if result.failures:
        out.print(
            rows_table(
                "Failed runs",
                [o.to_dict() for o in result.failures],
                ["name", "status", "error"],
            )
        )
    if summary is not None:
        for sentence in summary.get("sentences", []):
            out.print(sentence)
        out.print(f"Aggregate: {Path(summary['out']).resolve()}")
