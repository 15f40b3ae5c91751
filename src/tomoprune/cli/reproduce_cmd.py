"""``tomoprune reproduce table1``: the DTC paper's Table 1 on real MNIST."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tomoprune import config as cfg
from tomoprune.cli import l0_cmd, mdl_cmd, recovery_cmd, width_cmd
from tomoprune.cli.common import add_quiet, console, output_dir, reporter_for, rows_table
from tomoprune.cli.sweep_cmd import (
    EXIT_RUNS_FAILED,
    add_backend_options,
    failure_message,
    outcome_line,
)
from tomoprune.errors import ConfigError
from tomoprune.records.io import atomic_write_csv
from tomoprune.report.build import write_report
from tomoprune.reproduce import table1
from tomoprune.reproduce.correlations import DTC_PAPER, correlation_comparison

CORRELATION_COLUMNS = ["accuracy_method", "quantity", "published", "reference_recomputed", "ours"]

EXIT_CHECKS_FAILED = 6


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reproduce", help="reproduce a published experiment side by side with its numbers"
    )
    which = parser.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    t1 = which.add_parser(
        "table1",
        help="DTC paper Table 1: magnitude, random and DTC pruning on MNIST (reference profile)",
    )
    t1.add_argument("--data-dir", help="directory with the MNIST IDX files")
    t1.add_argument("--out", required=True, help="output directory (runs/, table1.csv, ...)")
    t1.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a setting of all three runs (changes the experiment!)",
    )
    t1.add_argument(
        "--strict",
        action="store_true",
        help=f"exit with code {EXIT_CHECKS_FAILED} when a reproduction check fails",
    )
    t1.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="run N seeds of each method (seed 0 is the published run) and add the mean, the "
        "95%% prediction interval of one run and whether the printed cell lies inside it to "
        "table1.csv/.md",
    )
    add_backend_options(t1, runs="the --seeds runs (seeds 1..N-1)")
    add_quiet(t1)
    t1.set_defaults(func=table1_command)
    l0_cmd.register_reproduce(which)
    width_cmd.register_reproduce(which)
    mdl_cmd.register_reproduce(which)
    recovery_cmd.register_reproduce(which)


def table1_command(args: argparse.Namespace) -> int:
    out = output_dir(args.out)
    say = (lambda message: None) if args.quiet else console().print
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1. Got {args.seeds}.")
    run_dirs, result = table1.run_methods(
        args.data_dir,
        out,
        overrides=cfg.parse_set_options(args.overrides),
        reporter_factory=lambda: reporter_for(args),
        on_done=lambda outcome: say(outcome_line(outcome)),
    )
    failures, total = list(result.failures), result.total
    seed_dirs = None
    if args.seeds > 1:
        from tomoprune.cli.sweep_cmd import SweepProgress

        bar = SweepProgress(args.quiet, f"Table 1, seeds 1..{args.seeds - 1}")
        try:
            seed_dirs, seeds_result = table1.run_seeds(
                args.data_dir,
                out,
                args.seeds,
                overrides=cfg.parse_set_options(args.overrides),
                backend=args.backend,
                workers=args.workers,
                address=args.address,
                on_done=bar.done,
                progress=bar,
            )
        finally:
            bar.stop()
        failures += seeds_result.failures
        total += seeds_result.total
        if seeds_result.failures:
            say(
                f"{len(seeds_result.failures)} seed runs failed; the bands use the seeds that "
                "finished."
            )
    if not run_dirs:
        print(failure_message(failures, total, out), file=sys.stderr)
        return EXIT_RUNS_FAILED
    check = table1.write_table1(out, run_dirs, seed_dirs=seed_dirs)
    extra = analysis_step(out, run_dirs, args.quiet)
    ok = all(m["widths_match"] and m["first_cycle_ok"] for m in check["methods"].values())
    ok = ok and check["early_rows_ok"] and check["all_rows_ok"]
    if args.quiet:
        print(out)
    else:
        out_console = console()
        rows = [r for r in _read_rows(out)]
        out_console.print(
            rows_table(
                "Table 1 (LOWESS accuracy): paper vs ours",
                rows,
                ["sparsity", "method", "paper", "ours", "diff"]
                + (["mean", "pi_low", "pi_high", "inside"] if args.seeds > 1 else []),
            )
        )
        out_console.print((out / "table1.md").read_text().split("## Checks", 1)[1].strip())
        if "published_inside_band" in check:
            out_console.print(
                f"Published cells inside the 95 % prediction interval of one run: "
                f"{check['published_inside_band']} of {check['cells_with_band']} "
                f"(table1.md, {check['seeds_figure']})"
            )
        if extra:
            out_console.print(extra)
        out_console.print(f"Checks {'passed' if ok else 'FAILED'}. Results: {out.resolve()}")
    if failures:
        print(failure_message(failures, total, out), file=sys.stderr)
        return EXIT_RUNS_FAILED
    return 0 if ok or not args.strict else EXIT_CHECKS_FAILED


def _read_rows(out: Path):
    from tomoprune.records.io import read_csv

    for row in read_csv(out / "table1.csv"):
        yield {
            k: (float(v) if k not in ("method", "inside") and v not in ("", None) else v)
            for k, v in row.items()
        }


def analysis_step(out: Path, run_dirs: dict[str, Path], quiet: bool):
    """The Gibbs analysis and report of the three runs, and the correlations side by side:
    published, recomputed from the authors' recorded run, and ours."""
    paths = write_report(list(run_dirs.values()), out / "analysis", paper=DTC_PAPER)
    rows = correlation_comparison(list(run_dirs.values()))
    atomic_write_csv(out / "correlations.csv", list(rows[0]), rows)
    if quiet:
        return None
    shown = [{k: row.get(k) for k in CORRELATION_COLUMNS} for row in rows]
    table = rows_table("Gibbs entropy vs smoothed accuracy (Pearson r)", shown, CORRELATION_COLUMNS)
    out_console = console()
    out_console.print(table)
    return f"Analysis and report: {paths['html'].resolve()}"
