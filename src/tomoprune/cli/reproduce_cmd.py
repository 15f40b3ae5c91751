"""``tomoprune reproduce table1``: the DTC paper's Table 1 on real MNIST."""

from __future__ import annotations

import argparse
from pathlib import Path

from tomoprune import config as cfg
from tomoprune.cli import l0_cmd
from tomoprune.cli.common import add_quiet, console, output_dir, reporter_for, rows_table
from tomoprune.records.io import atomic_write_csv
from tomoprune.report.build import write_report
from tomoprune.reproduce import table1
from tomoprune.reproduce.correlations import correlation_comparison

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
    add_quiet(t1)
    t1.set_defaults(func=table1_command)
    l0_cmd.register_reproduce(which)


def table1_command(args: argparse.Namespace) -> int:
    out = output_dir(args.out)
    say = (lambda message: None) if args.quiet else console().print
    run_dirs = table1.run_methods(
        args.data_dir,
        out,
        overrides=cfg.parse_set_options(args.overrides),
        reporter_factory=lambda: reporter_for(args),
        announce=say,
    )
    check = table1.write_table1(out, run_dirs)
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
                ["sparsity", "method", "paper", "ours", "diff"],
            )
        )
        out_console.print((out / "table1.md").read_text().split("## Checks", 1)[1].strip())
        if extra:
            out_console.print(extra)
        out_console.print(f"Checks {'passed' if ok else 'FAILED'}. Results: {out.resolve()}")
    return 0 if ok or not args.strict else EXIT_CHECKS_FAILED


def _read_rows(out: Path):
    from tomoprune.records.io import read_csv

    for row in read_csv(out / "table1.csv"):
        yield {
            k: (float(v) if k != "method" and v not in ("", None) else v) for k, v in row.items()
        }


def analysis_step(out: Path, run_dirs: dict[str, Path], quiet: bool):
    """The Gibbs analysis and report of the three runs, and the correlations side by side:
    published, recomputed from the authors' recorded run, and ours."""
    paths = write_report(list(run_dirs.values()), out / "analysis")
    rows = correlation_comparison(list(run_dirs.values()))
    atomic_write_csv(out / "correlations.csv", list(rows[0]), rows)
    if quiet:
        return None
    shown = [{k: row.get(k) for k in CORRELATION_COLUMNS} for row in rows]
    table = rows_table("Gibbs entropy vs smoothed accuracy (Pearson r)", shown, CORRELATION_COLUMNS)
    out_console = console()
    out_console.print(table)
    return f"Analysis and report: {paths['html'].resolve()}"
