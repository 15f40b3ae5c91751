"""``tomoprune reproduce l0`` and ``tomoprune reproduce teacher-student``: the l0 paper."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tomoprune import config as cfg
from tomoprune.cli.common import add_quiet, console, output_dir, reporter_for, rows_table
from tomoprune.cli.sweep_cmd import (
    EXIT_RUNS_FAILED,
    add_backend_options,
    failure_message,
    outcome_line,
)
from tomoprune.records.io import csv_value
from tomoprune.reproduce import l0

# table column -> header shown on the console (short, so the table fits 80 columns)
SHOWN_COLUMNS = {
    "method": "method",
    "test_accuracy": "accuracy",
    "accuracy_drop_pp": "drop pp",
    "compression_ratio": "CR",
    "nnz": "nnz",
    "epochs": "epochs",
    "wall_seconds": "seconds",
    "csr_bytes": "CSR bytes",
}
TEACHER_STUDENT_COLUMNS = {
    "size": "size",
    "seed": "seed",
    "setting": "setting",
    "test_loss": "test loss",
    "test_target_variance": "target variance",
    "compression_ratio": "CR",
}


def register_reproduce(which: argparse._SubParsersAction) -> None:
    """Add ``l0`` and ``teacher-student`` to the ``reproduce`` subcommand's parsers."""
    table = which.add_parser(
        "l0",
        help="l0 paper: dense baseline, DRR, PMMP and R-L1 on MNIST (accuracy, CR, bytes)",
        description="Each method runs into OUT/runs/<method>/ (finished runs are reused, "
        "interrupted ones resumed); OUT/l0_table.csv and l0_table.md compare them.",
    )
    table.add_argument("--data-dir", help="directory with the MNIST IDX files")
    table.add_argument("--out", required=True, help="output directory (runs/, l0_table.csv, ...)")
    add_backend_options(table, default="inline", runs="the methods' runs")
    table.add_argument(
        "--model", default="lenet300", choices=l0.MODELS, help="network (default lenet300)"
    )
    table.add_argument(
        "--methods",
        help=f"comma-separated subset of {','.join(l0.METHODS)} (default: all)",
    )
    table.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a setting of every run, e.g. method.patience=8 (changes the experiment!)",
    )
    add_quiet(table)
    table.set_defaults(func=l0_command)

    ts = which.add_parser(
        "teacher-student",
        help="l0 paper: regularised vs unregularised students of a random teacher network",
        description="Writes OUT/teacher_student.csv, teacher_student.json and "
        "teacher_student.png (test loss against the number of labelled samples).",
    )
    ts.add_argument("--out", required=True, help="output directory")
    ts.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        dest="overrides",
        help="e.g. sizes=30,300 seeds=0,1 test_size=2000 method.alpha=1e-3 (repeatable)",
    )
    add_quiet(ts)
    ts.set_defaults(func=teacher_student_command)


def l0_command(args: argparse.Namespace) -> int:
    methods = l0.parse_methods(args.methods)
    out = output_dir(args.out)
    say = (lambda message: None) if args.quiet else console().print
    run_dirs, result = l0.run_methods(
        args.data_dir,
        out,
        methods=methods,
        model=args.model,
        overrides=cfg.parse_set_options(args.overrides),
        reporter_factory=lambda: reporter_for(args),
        on_done=lambda outcome: say(outcome_line(outcome)),
        backend=args.backend,
        workers=args.workers,
        address=args.address,
    )
    if not run_dirs:
        print(failure_message(result.failures, result.total, out), file=sys.stderr)
        return EXIT_RUNS_FAILED
    rows = l0.write_l0_table(out, run_dirs, model=args.model)
    if args.quiet:
        print(out)
    else:
        show_table(out, rows, args.model)
    if result.failures:
        print(failure_message(result.failures, result.total, out), file=sys.stderr)
        return EXIT_RUNS_FAILED
    return 0


def show_table(out: Path, rows: list[dict], model: str) -> None:
    """The l0 table and its acceptance check on the console."""
    out_console = console()
    shown = [{SHOWN_COLUMNS[k]: row[k] for k in SHOWN_COLUMNS} for row in rows]
    title = f"l0 family, {model} on MNIST"
    out_console.print(rows_table(title, shown, list(SHOWN_COLUMNS.values())))
    check = l0.acceptance(rows, model)
    if check is not None:
        out_console.print((out / l0.TABLE_MD).read_text().split("## Check", 1)[1].strip())
    out_console.print(f"Results: {out.resolve()}")


def teacher_student_command(args: argparse.Namespace) -> int:
    config = l0.teacher_student_config(cfg.parse_set_options(args.overrides))
    out = output_dir(args.out)
    rows, figure = l0.run_teacher_student_figure(config, out)
    if args.quiet:
        print(out)
        return 0
    out_console = console()
    shown = [{h: csv_value(row[k]) for k, h in TEACHER_STUDENT_COLUMNS.items()} for row in rows]
    headers = list(TEACHER_STUDENT_COLUMNS.values())
    out_console.print(rows_table("Teacher-student: test loss", shown, headers))
    verdicts = [
        {
            "samples": v["size"],
            "regularised": v["regularised_mean"],
            "unregularised": v["unregularised_mean"],
            "regularised better": f"{v['regularised_better']} of {v['seeds']} seeds",
        }
        for v in l0.teacher_student_verdicts(rows)
    ]
    out_console.print(
        rows_table(
            "mean test loss over seeds",
            verdicts,
            ["samples", "regularised", "unregularised", "regularised better"],
        )
    )
    out_console.print(f"Paper's expectation: {l0.TEACHER_STUDENT_EXPECTATION}.")
    out_console.print(
        f"Figure: {figure.resolve()}  Summary: {(out / l0.TEACHER_STUDENT_SUMMARY).resolve()}"
    )
    return 0
