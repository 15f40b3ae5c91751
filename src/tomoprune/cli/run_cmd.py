"""``tomoprune run`` (train and compress one model) and ``tomoprune methods``."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from tomoprune import config as cfg
from tomoprune.cli.common import add_quiet, console, format_cell, reporter_for, rows_table
from tomoprune.engine.runner import run_experiment
from tomoprune.errors import ConfigError
from tomoprune.methods import METHOD_REGISTRY, load_builtin_methods
from tomoprune.records import schema
from tomoprune.records.io import read_json
from tomoprune.report.build import write_report
from tomoprune.sweep import run_sweep, write_comparison

SUMMARY_COLUMNS = ["cycle", "width", "sparsity", "test_accuracy", "train_loss", "train_seconds"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="train a model while compressing it; write a run directory",
        description="Train-compress one model. Every setting can be changed with --set "
        "KEY=VALUE (see `tomoprune methods` for the keys); --resume continues an interrupted run.",
    )
    parser.add_argument("--method", help="compression method (see `tomoprune methods`)")
    parser.add_argument("--dataset", help="mnist, fashion-mnist or digits (bundled, offline)")
    parser.add_argument("--data-dir", help="directory holding the dataset's IDX files")
    parser.add_argument("--model", help="model name (mlp, lenet300, lenet5, resnet)")
    parser.add_argument(
        "--hidden", help="hidden width(s) of the MLP: 512, or 512,256,128 for several layers"
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
    parser.add_argument("--max-cycles", type=int, help="stop after this many cycles (resumable)")
    parser.add_argument("--out", help="run directory to create")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    add_quiet(parser)
    parser.set_defaults(func=run_command)

    compare = subparsers.add_parser(
        "compare",
        help="run several methods on the same data and settings; print them side by side",
        description="Each method runs into OUT/<method>/ (finished runs are reused, interrupted "
        "ones resumed); OUT/comparison.csv and comparison.md hold the side-by-side table.",
    )
    compare.add_argument(
        "--methods", required=True, help="comma-separated method names, e.g. dtc,magnitude,random"
    )
    for flag in ("--dataset", "--data-dir", "--model", "--device", "--config"):
        compare.add_argument(flag)
    compare.add_argument("--hidden")
    compare.add_argument("--groups")
    compare.add_argument("--selection", choices=("per_group", "global"))
    compare.add_argument("--profile", choices=cfg.profile_names())
    compare.add_argument("--set", action="append", metavar="KEY=VALUE", dest="overrides")
    compare.add_argument("--out", required=True, help="output directory")
    add_quiet(compare)
    compare.set_defaults(func=compare_command)

    methods = subparsers.add_parser("methods", help="list methods, profiles and their settings")
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
    return cfg.resolve_run_config(
        args.method, profile=args.profile or "corrected", overrides=overrides, base=base
    )


def run_command(args: argparse.Namespace) -> int:
    if args.resume:
        if args.method or args.out or args.overrides or args.config:
            raise ConfigError("--resume takes the run directory only; its config.json is reused.")
        config, out = None, args.resume
    else:
        if not args.out:
            raise ConfigError("--out RUN_DIR is required (the directory the run writes).")
        config, out = config_from_args(args), args.out
    outcome = run_experiment(
        config,
        out,
        resume=bool(args.resume),
        reporter=reporter_for(args),
        max_cycles=args.max_cycles,
    )
    if args.quiet:
        print(outcome.run_dir)
        return 0
    out_console = console()
    rows = outcome.result.rows
    shown = rows if len(rows) <= 40 else rows[:5] + rows[-30:]
    out_console.print(
        rows_table(f"{outcome.config.method} ({outcome.config.profile})", shown, SUMMARY_COLUMNS)
    )
    summary = outcome.summary
    state = "finished" if summary["finished"] else "stopped (continue with --resume)"
    out_console.print(
        f"[bold]{summary['method']}[/bold] {state}: {summary['cycles']} cycles, final width "
        f"{summary['final_width']}, test accuracy {format_cell(summary['final_test_accuracy'])}, "
        f"train {summary['train_seconds']:.1f}s, prune {summary['prune_seconds']:.1f}s"
    )
    cost = cost_line(summary)
    if cost:
        out_console.print(cost)
    out_console.print(f"Results: {outcome.run_dir.resolve()}")
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
    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not names:
        raise ConfigError("--methods needs at least one method name, e.g. dtc,magnitude,random.")
    configs = {}
    for name in names:
        args.method = name
        configs[name] = config_from_args(args)
    out = Path(args.out)
    say = (lambda message: None) if args.quiet else console().print
    run_dirs = run_sweep(configs, out, reporter_factory=lambda: reporter_for(args), announce=say)
    rows = write_comparison(out, run_dirs)
    report = report_step(out, run_dirs)
    if args.quiet:
        print(out)
        return 0
    out_console = console()
    shown = rows if len(rows) <= 40 else rows[:5] + rows[-30:]
    out_console.print(
        rows_table(
            "test accuracy after each cycle's pruning",
            shown,
            ["cycle", "width", "sparsity", *names],
        )
    )
    for name, run_dir in run_dirs.items():
        summary = read_json(run_dir / schema.SUMMARY_FILE)
        out_console.print(
            f"[bold]{name}[/bold]: final width {summary['final_width']}, final accuracy "
            f"{summary['final_test_accuracy']:.4f}, best {summary['best_test_accuracy']:.4f}, "
            f"train {summary['train_seconds']:.1f}s, prune {summary['prune_seconds']:.1f}s"
        )
    if report is not None:
        out_console.print(f"Report: {report.resolve()}")
    out_console.print(f"Results: {out.resolve()}  (comparison.md, one run directory per method)")
    return 0


def report_step(out: Path, run_dirs: dict[str, Path]) -> Path:
    """Figures and an HTML/Markdown report of the compared runs (``OUT/report/``)."""
    return write_report(list(run_dirs.values()), out / "report")["html"]


def methods_command(args: argparse.Namespace) -> int:
    load_builtin_methods()
    out = console()
    for name in METHOD_REGISTRY.names():
        spec = METHOD_REGISTRY.get(name)
        out.print(
            f"[bold]{name}[/bold] ({spec.family}, default model {spec.default_model}): "
            f"{spec.summary}"
        )
        for field in dataclasses.fields(spec.params_type):
            out.print(f"    method.{field.name} = {field.default!r}")
    out.print("[bold]profiles[/bold]")
    for profile, switches in cfg.PROFILES.items():
        shown = ", ".join(f"{k}={v}" for k, v in switches.items()) or "(the defaults)"
        out.print(f"    {profile}: {shown}")
    out.print("[bold]run settings[/bold] (with their defaults)")
    for key, value in cfg.flatten(cfg.to_dict(cfg.RunConfig())).items():
        if not key.startswith("method"):
            out.print(f"    {key} = {value!r}")
    return 0
