"""``tomoprune reproduce width-tradeoff``: compressibility against width (greedy compression
paper, Appendix C), with the baselines beside it."""

from __future__ import annotations

import argparse
from dataclasses import fields

from tomoprune import config as cfg
from tomoprune.cli.common import add_quiet, add_threads, console, rows_table, threads_from_args

SUMMARY_COLUMNS = ["set-up", "widths", "greedy Delta", "falls", "output MSE falls",
                   "greedy / baseline (widest)"]  # fmt: skip


def register_reproduce(which: argparse._SubParsersAction) -> None:
    from tomoprune.reproduce.width import WidthConfig

    names = ", ".join(f.name for f in fields(WidthConfig))
    parser = which.add_parser(
        "width-tradeoff",
        help="greedy compression paper: Delta and accuracy of pruned/quantized MLPs and CNNs vs "
        "width",
        description="Trains the paper's MLPs (and its CNN with --architectures cnn) at each width "
        "and seed, compresses each net (greedy pruning and quantization with repeats, "
        "magnitude/Wanda/SparseGPT/round-to-nearest/GPTQ beside it; for structured and cnn, "
        "unit-level magnitude/wanda/ls-refit) and writes OUT/results.csv, nets.csv (c1, c2), width_table.csv and PNG "
        "figures. Interrupted runs continue. Settings (--set KEY=VALUE): " + names + ".",
    )
    parser.add_argument("--dataset", default="digits", help="digits (default), mnist, ...")
    parser.add_argument("--data-dir", help="directory holding the dataset's files")
    parser.add_argument(
        "--architectures",
        help="comma-separated: unstructured, structured (the paper's MLPs), cnn (its CNN, "
        "image data only); default unstructured,structured",
    )
    parser.add_argument(
        "--widths",
        help="comma-separated widths, e.g. 10,50,250,1000 (default: each architecture's own, "
        "MLPs 10..1000, cnn 20,40,60,80,100)",
    )
    parser.add_argument("--seeds", type=int, help="trained nets per width")
    parser.add_argument("--repeats", type=int, help="greedy draws per trained net (paper: 50)")
    parser.add_argument("--bits", help="comma-separated bit widths for quantization, e.g. 2,3,4,8")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", dest="overrides")
    parser.add_argument("--out", required=True, help="output directory")
    add_threads(parser)
    add_quiet(parser)
    parser.set_defaults(func=width_command)


def width_config(args: argparse.Namespace):
    from tomoprune.reproduce.width import WidthConfig, check_config

    overrides = cfg.parse_set_options(args.overrides)
    overrides["dataset"] = args.dataset
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    for name in ("widths", "bits", "architectures"):
        value = getattr(args, name)
        if value:
            overrides[name] = "[" + value + "]"
    for name in ("seeds", "repeats"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    config = WidthConfig()
    for key, value in overrides.items():
        config = cfg._set_field(config, key.split("."), value, key)
    check_config(config)
    return config


def width_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tomoprune.records.io import read_csv
    from tomoprune.reproduce.width import run_width_experiment
    from tomoprune.reproduce.width_report import setup_summaries
    from tomoprune.runtime import configure_threads

    config = width_config(args)
    out_console = console()
    say = (lambda m: None) if args.quiet else (lambda m: out_console.print(m, highlight=False))
    threads = configure_threads(threads_from_args(args))
    run_width_experiment(config, args.out, announce=say, threads=threads)
    if args.quiet:
        print(args.out)
        return 0
    table = read_csv(Path(args.out) / "width_table.csv")
    shown = [
        {
            "set-up": summary["title"],
            "widths": f"{summary['first_width']} -> {summary['last_width']}",
            "greedy Delta": f"{summary['start']:.3g} -> {summary['end']:.3g}",
            "falls": "-" if summary["fall"] is None else f"{summary['fall']:.3g}x",
            "output MSE falls": "-"
            if summary["mse_fall"] is None
            else f"{summary['mse_fall']:.3g}x",
            "greedy / baseline (widest)": ", ".join(
                f"{m} {r:.3g}x" for m, r in summary["ratios"].items()
            ),
        }
        for summary in setup_summaries(table)
    ]
    out_console.print(rows_table(f"width trade-off on {config.dataset}", shown, SUMMARY_COLUMNS))
    out_console.print(
        f"Every width with its bands: {(Path(args.out) / 'width_table.md').resolve()}"
    )
    out_console.print(f"Results and figures: {Path(args.out).resolve()}")
    return 0
