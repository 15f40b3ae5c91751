"""``tomoprune run`` (train and compress one model), ``compare`` and ``methods``.

Building these parsers (``--help``) reads only the torch-free method catalogue; the engine,
records and reports are imported inside the command functions, when a command runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from tomoprune import config as cfg
from tomoprune.cli.common import (
    add_quiet,
    add_threads,
    console,
    format_cell,
    reporter_for,
    rows_table,
    threads_from_args,
)
from tomoprune.cli.sweep_cmd import (
    EXIT_RUNS_FAILED,
    add_backend_options,
    failure_message,
    outcome_line,
)
from tomoprune.errors import ConfigError
from tomoprune.methods import METHOD_REGISTRY, load_builtin_methods

SUMMARY_COLUMNS = ["cycle", "width", "sparsity", "test_accuracy", "train_loss", "train_seconds"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer. Got {text!r} instead")
    return value


def catalogue() -> str:
    """Methods with their default models, and the run defaults, for ``run --help``.

    Read from the torch-free method catalogue; the models and datasets (whose registries load
    torch) are listed by ``tomoprune methods``.
    """
    load_builtin_methods()
    defaults = cfg.RunConfig()
    lines = ["methods (default model; `tomoprune methods NAME` lists its settings):"]
    for name in METHOD_REGISTRY.names():
        spec = METHOD_REGISTRY.get(name)
        lines.append(f"  {name:<10} {spec.summary} ({spec.default_model})")
    lines.append(
        f"models and datasets: `tomoprune methods` lists them (default dataset "
        f"{defaults.data.dataset}; digits is bundled and works offline, the others need their "
        "files: `tomoprune data`)"
    )
    lines.append(
        f"defaults: --dataset {defaults.data.dataset} --hidden {defaults.model.hidden} "
        f"--profile {defaults.profile} --device {defaults.device}, train.lr="
        f"{defaults.train.lr}, train.batch_size={defaults.train.batch_size}, "
        f"train.steps_per_cycle={defaults.train.steps_per_cycle} (the l0 methods change "
        "some: see `tomoprune methods NAME`)"
    )
    lines.append(
        "An interrupted or stopped run continues when the same command is run again; "
        "--overwrite starts it afresh."
    )
    return "\n".join(lines)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options ``run`` and ``compare`` share."""
    parser.add_argument(
        "--dataset", help="mnist (default), fashion-mnist or digits (bundled, offline)"
    )
    parser.add_argument("--data-dir", help="directory holding the dataset's IDX files")
    parser.add_argument("--model", help="mlp, lenet300, lenet5 or resnet (default: the method's)")
    parser.add_argument(
        "--hidden",
        help="hidden width(s) of the MLP: 512 (default), or 512,256,128 for several layers",
    )
    parser.add_argument(
        "--groups",
        help="unit groups to prune (dtc/magnitude/random): 'all' (default) or comma-separated "
        "group names, i.e. the module name of each group's first layer (e.g. 0,2 for lenet5)",
    )
    parser.add_argument(
        "--selection",
        choices=("per_group", "global"),
        help="remove method.fraction of every group (per_group, default) or of all units "
        "together, lowest |score| first (global)",
    )
    parser.add_argument(
        "--profile",
        choices=cfg.profile_names(),
        help="corrected (default) or reference (as the published experiment ran)",
    )
    parser.add_argument("--device", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--config", help="JSON or TOML file of settings")
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        dest="overrides",
        help="override one setting, e.g. train.lr=0.001 or method.lam=0.3 (repeatable)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="remove the records already in the output directory and start afresh",
    )
    add_threads(parser)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="train a model while compressing it; write a run directory",
        description="Train-compress one model. Every setting can be changed with --set "
        "KEY=VALUE (see `tomoprune methods NAME` for the keys).",
        epilog=catalogue(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--method", help="compression method, e.g. dtc, magnitude, random, drr (see below)"
    )
    _add_run_options(parser)
    parser.add_argument(
        "--max-cycles",
        type=_positive_int,
        help="stop after this many cycles (the same command later continues)",
    )
    parser.add_argument("--out", help="run directory to create (or to continue)")
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue RUN_DIR with the settings it was started with"
    )
    add_quiet(parser)
    parser.set_defaults(func=run_command)

    compare = subparsers.add_parser(
        "compare",
        help="run several methods on the same data and settings; print them side by side",
        description="Each method runs into OUT/<method>/ (finished runs are reused, interrupted "
        "ones continued, a failing one reported at the end with exit code 7 while the others "
        "finish); OUT/comparison.csv and comparison.md hold the side-by-side table and "
        "OUT/report/ the report.",
        epilog=catalogue(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument(
        "--methods", required=True, help="comma-separated method names, e.g. dtc,magnitude,random"
    )
    _add_run_options(compare)
    compare.add_argument("--out", required=True, help="output directory")
    add_backend_options(compare, default="inline", runs="the methods' runs")
    add_quiet(compare)
    compare.set_defaults(func=compare_command)

    methods = subparsers.add_parser(
        "methods",
        help="list the methods; `methods NAME` describes one method's settings",
        description="Without NAME: every method, the profiles and the run settings. With NAME: "
        "that method's settings, each with its default and what it does.",
    )
    methods.add_argument("name", nargs="?", metavar="NAME", help="a method, e.g. dtc or drr")
    methods.set_defaults(func=methods_command)


def config_from_args(args: argparse.Namespace) -> cfg.RunConfig:
    """Turn the command line into a RunConfig (shortcut flags are plain overrides)."""
    if not args.method:
        raise ConfigError("--method is required (e.g. --method dtc); see `tomoprune methods`.")
    overrides: dict[str, object] = {}
    for flag, key in (
        ("dataset", "data.dataset"),
        ("data_dir", "data.data_dir"),
        ("model", "model.name"),
        ("hidden", "model.hidden"),
        ("device", "device"),
        ("groups", "method.groups"),
        ("selection", "method.selection"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[key] = value
    overrides.update(cfg.parse_set_options(args.overrides))
    base = cfg.load_config_file(args.config) if args.config else None
    from tomoprune.runs.resolve import resolve_run_config  # lazy: CLI start-up

    return resolve_run_config(
        args.method, profile=args.profile or "corrected", overrides=overrides, base=base
    )


def run_command(args: argparse.Namespace) -> int:
    from tomoprune.runs.runner import run_experiment

    if args.resume:
        if args.method or args.out or args.overrides or args.config or args.overwrite:
            raise ConfigError(
                "--resume takes the run directory only (its config.json is reused); or run the "
                "command that started it again."
            )
        config, out = None, args.resume
    else:
        if not args.out:
            raise ConfigError("--out RUN_DIR is required (the directory the run writes).")
        config, out = config_from_args(args), args.out
    outcome = run_experiment(
        config,
        out,
        resume=bool(args.resume),
        overwrite=args.overwrite,
        reporter=reporter_for(args),
        max_cycles=args.max_cycles,
        threads=threads_from_args(args),
    )
    if args.quiet:
        print(outcome.run_dir)
        return 0
    out_console = console()
    rows = outcome.rows
    shown = rows if len(rows) <= 40 else rows[:5] + rows[-30:]
    columns = list(SUMMARY_COLUMNS)
    summary = outcome.summary
    if "compression_ratio" in summary:  # weight-level methods: zeros, not removed units
        columns[2:3] = ["sparsity", "nonzero_parameters", "compression_ratio"]
    out_console.print(
        rows_table(f"{outcome.config.method} ({outcome.config.profile})", shown, columns)
    )
    state = {
        "finished": "finished",
        "stopped": "stopped (run the same command again to continue)",
    }.get(summary.get("status", ""), summary.get("status", ""))
    if outcome.state == "reused":
        state = "already finished in this directory (nothing recomputed; --overwrite reruns it)"
    weights = ""
    if summary.get("compression_ratio") is not None:
        weights = (
            f", {summary['weight_sparsity']:.1%} of weights zero (compression ratio "
            f"{summary['compression_ratio']:.1f})"
        )
    out_console.print(
        f"[bold]{summary['method']}[/bold] {state}: {summary['cycles']} cycles, final width "
        f"{summary['final_width']}{weights}, test accuracy "
        f"{format_cell(summary['final_test_accuracy'])}, train {summary['train_seconds']:.1f}s, "
        f"prune {summary['prune_seconds']:.1f}s"
    )
    cost = cost_line(summary)
    if cost:
        out_console.print(cost)
    out_console.print(f"Results: {Path(outcome.run_dir).resolve()}")
    return 0


def cost_line(summary: dict) -> str | None:
    """``parameters A -> B, FLOPs/sample A -> B, latency ...`` from a summary, or None."""
    if "flops_before" not in summary:
        return None

    def ms(key: str) -> str:
        value = summary.get(key)
        return "-" if value is None else f"{1e3 * value:.3g} ms"

    parts = [
        f"parameters {summary['parameters_before']:,} -> {summary['parameters_after']:,}",
        f"FLOPs/sample {summary['flops_before']:,} -> {summary['flops_after']:,}",
    ]
    for batch in (1, 256):
        key = f"latency_b{batch}"
        if f"{key}_before_s" in summary:
            parts.append(f"latency batch {batch} {ms(key + '_before_s')} -> {ms(key + '_after_s')}")
    return "[bold]cost[/bold]: " + ", ".join(parts)


def compare_command(args: argparse.Namespace) -> int:
    from tomoprune.records.writer import run_status
    from tomoprune.report.comparison import write_comparison
    from tomoprune.sweeps.runner import execute_runs
    from tomoprune.sweeps.spec import RunSpec

    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not names:
        raise ConfigError("--methods needs at least one method name, e.g. dtc,magnitude,random.")
    runs = []
    for name in names:
        args.method = name
        config = config_from_args(args)
        runs.append(RunSpec(name=name, axes={"method": name, "seed": config.seed}, config=config))
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(
            f"The '--out' option must name a directory; {out} is a file. Choose another --out."
        )
    say = (lambda message: None) if args.quiet else console().print
    result = execute_runs(
        runs,
        out,
        backend=args.backend,
        workers=args.workers,
        address=args.address,
        torch_threads=threads_from_args(args),
        overwrite=args.overwrite,
        on_done=lambda outcome: say(outcome_line(outcome)),
        reporter_factory=lambda: reporter_for(args),
    )
    run_dirs = {name: out / name for name in names if run_status(out / name) == "finished"}
    failed = result.failures
    if not run_dirs:
        print(failure_message(failed, result.total, out), file=sys.stderr)
        return EXIT_RUNS_FAILED
    rows = write_comparison(out, run_dirs)
    report = report_step(out, run_dirs)
    if args.quiet:
        print(out)
    else:
        show_comparison(out, run_dirs, rows, report)
    if failed:
        print(failure_message(failed, result.total, out), file=sys.stderr)
        return EXIT_RUNS_FAILED
    return 0


def show_comparison(
    out: Path, run_dirs: dict[str, Path], rows: list[dict], report: Path | None
) -> None:
    """The side-by-side table and one line per run on the console."""
    from tomoprune.records.reader import load_run

    out_console = console()
    shown = rows if len(rows) <= 40 else rows[:5] + rows[-30:]
    out_console.print(
        rows_table(
            "test accuracy after each cycle's pruning",
            shown,
            ["cycle", "width", "sparsity", *run_dirs],
        )
    )
    for name, run_dir in run_dirs.items():
        summary = load_run(run_dir).summary or {}
        out_console.print(
            f"[bold]{name}[/bold]: final width {summary['final_width']}, final accuracy "
            f"{summary['final_test_accuracy']:.4f}, best {summary['best_test_accuracy']:.4f}, "
            f"train {summary['train_seconds']:.1f}s, prune {summary['prune_seconds']:.1f}s"
        )
    if report is not None:
        out_console.print(f"Report: {report.resolve()}")
    out_console.print(f"Results: {out.resolve()}  (comparison.md, one run directory per method)")


def report_step(out: Path, run_dirs: dict[str, Path]) -> Path:
    """Figures and an HTML/Markdown report of the compared runs (``OUT/report/``)."""
    from tomoprune.report.build import write_report  # lazy: CLI start-up
    from tomoprune.reproduce.correlations import DTC_PAPER  # lazy: CLI start-up

    return write_report(list(run_dirs.values()), out / "report", paper=DTC_PAPER)["html"]


def methods_command(args: argparse.Namespace) -> int:
    load_builtin_methods()
    out = console()
    if args.name:
        spec = METHOD_REGISTRY.get(args.name)
        out.print(
            f"[bold]{spec.name}[/bold] ({spec.family}, default model {spec.default_model}): "
            f"{spec.summary}"
        )
        out.print("settings (--set method.KEY=VALUE; default, then what it does):")
        _print_settings(out, "method.", spec.params_type, spec.settings)
        defaults = dict(spec.run_defaults)
        if defaults:
            shown = ", ".join(f"{k}={v}" for k, v in defaults.items())
            out.print(f"run defaults of this method: {shown}")
        out.print("run settings: `tomoprune methods` lists them.")
        return 0
    for name in METHOD_REGISTRY.names():
        spec = METHOD_REGISTRY.get(name)
        out.print(
            f"[bold]{name}[/bold] ({spec.family}, default model {spec.default_model}): "
            f"{spec.summary}"
        )
    out.print("`tomoprune methods NAME` lists a method's settings.")
    out.print("[bold]profiles[/bold]")
    for profile, switches in cfg.PROFILES.items():
        shown = ", ".join(f"{k}={v}" for k, v in switches.items()) or "(the defaults)"
        out.print(f"    {profile}: {shown}")
    from tomoprune.data.datasets import DATASETS
    from tomoprune.models import MODEL_REGISTRY, load_builtin_models

    load_builtin_models()
    out.print(f"[bold]models[/bold]: {', '.join(MODEL_REGISTRY.names())}")
    out.print(f"[bold]datasets[/bold]: {', '.join(DATASETS.names())}")
    out.print("[bold]run settings[/bold] (--set KEY=VALUE; default, then what it does)")
    for prefix, section in (
        ("data.", cfg.DataConfig),
        ("model.", cfg.ModelConfig),
        ("train.", cfg.TrainConfig),
    ):
        _print_settings(out, prefix, section, ())
    return 0


def _print_settings(out, prefix: str, cls: type, only: tuple[str, ...]) -> None:
    descriptions = cfg.describe_fields(cls)
    defaults = cls()
    for field in dataclasses.fields(cls):
        if only and field.name not in only:
            continue
        key = f"{prefix}{field.name} = {getattr(defaults, field.name)!r}"
        out.print(f"    {key:<44} {descriptions[field.name]}", highlight=False, soft_wrap=True)
