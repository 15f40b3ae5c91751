"""``tomoprune compress --from RUN_DIR --method NAME``: post-training compression of a trained
model (never trains), written as a run directory like any other.

The parser reads the torch-free method catalogue; the engine is imported when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tomoprune import config as cfg
from tomoprune.cli.common import add_quiet, console, format_cell, reporter_for
from tomoprune.errors import ConfigError

SUMMARY_ROWS = [
    ("dense test accuracy", "dense_test_accuracy"),
    ("test accuracy", "final_test_accuracy"),
    ("Delta (c^-2m E||Phi - Phi_hat||^2)", "delta"),
    ("non-zero parameters", "nonzero_parameters"),
    ("parameters", "parameters"),
    ("export", "export_file"),
    ("export bytes", "export_bytes"),
    ("dense float32 bytes", "dense_float32_bytes"),
    ("size vs dense", "size_ratio_vs_dense"),
    ("c1 (max operator norm)", "c1"),
    ("c2 (max |w| sqrt(max side))", "c2"),
    ("seconds", "prune_seconds"),
]


def register(subparsers: argparse._SubParsersAction) -> None:
    from tomoprune.methods import METHOD_REGISTRY, load_builtin_methods
    from tomoprune.methods.greedy.params import COMPRESS_ALIASES, FAMILY

    load_builtin_methods()
    names = [n for n in METHOD_REGISTRY.names() if METHOD_REGISTRY.get(n).family == FAMILY]
    shown = sorted({*(n for n in names if n not in COMPRESS_ALIASES.values()), *COMPRESS_ALIASES})
    parser = subparsers.add_parser(
        "compress",
        help="compress a trained model after training (pruning or quantization); never trains",
        description="Post-training compression of the model in RUN_DIR with calibration data "
        "from the data layer. gptq, sparsegpt, wanda and rtn take every weighted layer unless "
        "method.layers names module patterns (e.g. --set method.layers=[2]); the greedy "
        "methods and their baselines (weight-magnitude, wanda-baseline, rtn-baseline, obs: "
        "the paper's grid) count the Linear/Conv2d layers from 0 (--set "
        "method.wide_layers=[1] compresses the second). Methods: "
        + ", ".join(shown)
        + " (magnitude here means weight magnitude).",
    )
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="RUN_DIR",
        help="finished run directory, or a folder with model.safetensors + model.json",
    )
    parser.add_argument("--method", required=True, choices=shown)
    parser.add_argument("--dataset", help="calibration/test data when RUN_DIR has no run config")
    parser.add_argument("--data-dir", help="directory holding the dataset's files")
    parser.add_argument("--device", help="cpu (default), cuda or cuda:N")
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        dest="overrides",
        help="e.g. method.alpha=0.9, method.p=0.3, method.bits=4, method.pair_layers=[0]",
    )
    parser.add_argument("--out", required=True, help="run directory to create")
    add_quiet(parser)
    parser.set_defaults(func=compress_command)


def compress_command(args: argparse.Namespace) -> int:
    from tomoprune.methods.greedy.params import COMPRESS_ALIASES
    from tomoprune.runs.runner import post_training_config, run_post_training

    source = Path(args.source)
    if not source.is_dir():
        raise ConfigError(f"--from {source}: directory not found; pass a finished run directory.")
    overrides = dict(cfg.parse_set_options(args.overrides))
    if args.device:
        overrides["device"] = args.device
    method = COMPRESS_ALIASES.get(args.method, args.method)
    config, recorded = post_training_config(
        method, source, overrides, dataset=args.dataset, data_dir=args.data_dir
    )
    outcome = run_post_training(config, source, recorded, args.out, reporter=reporter_for(args))
    if args.quiet:
        print(outcome.run_dir)
        return 0
    from rich.table import Table

    table = Table(title=f"{method} on {source} -> {outcome.run_dir}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for label, key in SUMMARY_ROWS:
        table.add_row(label, format_cell(outcome.summary.get(key), 6))
    console().print(table)
    return 0
