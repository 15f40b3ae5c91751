"""``tomoprune reproduce recovery``: prune a trained torchvision model to half its FLOPs with
tomoprune and with Torch-Pruning, fine-tune both the same way, and compare."""

from __future__ import annotations

import argparse
from dataclasses import fields

from tomoprune import config as cfg
from tomoprune.cli.common import add_quiet, add_threads, console, output_dir, threads_from_args


def register_reproduce(which: argparse._SubParsersAction) -> None:
    from tomoprune.reproduce.recovery import MODELS, RecoveryConfig

    names = ", ".join(f.name for f in fields(RecoveryConfig))
    parser = which.add_parser(
        "recovery",
        help="ResNet-18 / MobileNetV2 on Fashion-MNIST pruned to 50%% of FLOPs by tomoprune and "
        "Torch-Pruning, fine-tuned alike: accuracy, FLOPs, parameters, latency",
        description="Trains the model (1-channel input, 10 classes), prunes it with tomoprune's "
        "Compressor and with Torch-Pruning's MetaPruner to the same FLOPs target, fine-tunes "
        "both with the same schedule and writes OUT/results.json and OUT/recovery.md. "
        "Interrupted runs continue from the finished stages. Settings (--set KEY=VALUE): "
        + names
        + ".",
    )
    parser.add_argument("--model", default="resnet18", help=f"one of {', '.join(MODELS)}")
    parser.add_argument("--data-dir", help="directory holding the dataset's IDX files")
    parser.add_argument("--epochs", type=int, help="training epochs of the dense model")
    parser.add_argument("--finetune-epochs", type=int, help="fine-tuning epochs after pruning")
    parser.add_argument("--seed", type=int, help="seed of weights, batch order and subsets")
    parser.add_argument(
        "--stage",
        action="append",
        choices=["dense", "tomoprune", "torch-pruning", "latency"],
        help="run only this stage (repeatable; default all): after the dense stage, the two "
        "tools can run in separate processes side by side",
    )
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", dest="overrides")
    parser.add_argument("--out", required=True, help="output directory")
    add_threads(parser)
    add_quiet(parser)
    parser.set_defaults(func=recovery_command)


def recovery_config(args: argparse.Namespace):
    from tomoprune.reproduce.recovery import RecoveryConfig

    overrides = cfg.parse_set_options(args.overrides)
    overrides["model"] = args.model
    for key, value in (
        ("data_dir", args.data_dir),
        ("train_epochs", args.epochs),
        ("finetune_epochs", args.finetune_epochs),
        ("seed", args.seed),
    ):
        if value is not None:
            overrides[key] = value
    return cfg.override_dataclass(RecoveryConfig(), overrides)


def recovery_command(args: argparse.Namespace) -> int:
    import torch

    from tomoprune.reproduce.recovery import STAGES, run_recovery

    config = recovery_config(args)
    out = output_dir(args.out)
    threads = threads_from_args(args)
    if threads:
        torch.set_num_threads(threads)
    say = (lambda message: None) if args.quiet else console().print
    results = run_recovery(config, out, say, tuple(args.stage or STAGES))
    if results is None:
        say(f"Stages {', '.join(args.stage)} done; run the others to complete {out}.")
    elif args.quiet:
        print(out)
    else:
        console().print((out / "recovery.md").read_text())
        console().print(f"Results: {out.resolve()}")
    return 0
