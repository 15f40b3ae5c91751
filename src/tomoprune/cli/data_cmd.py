"""``tomoprune data``: download, inspect and verify the datasets."""

from __future__ import annotations

import argparse

import torch
from rich.console import Console
from rich.table import Table

from tomoprune.data.catalog import IDX_DATASETS, idx_spec
from tomoprune.data.checksums import require_verified, verify_idx_dataset
from tomoprune.data.datasets import DATASETS, load_dataset
from tomoprune.data.download import DEFAULT_TIMEOUT, download_dataset
from tomoprune.data.locate import ENV_VAR, find_idx_files


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data",
        help="download, inspect and verify datasets",
        description="Download, inspect and verify the datasets tomoprune trains on.",
    )
    commands = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    download = commands.add_parser(
        "download",
        help="fetch MNIST or Fashion-MNIST from public mirrors, checking checksums",
        description="Fetch the four IDX .gz files from public mirrors (tried in order) and "
        "check them against the published checksums; files already present and intact are "
        "skipped.",
    )
    download.add_argument("name", choices=sorted(IDX_DATASETS), help="dataset")
    download.add_argument(
        "--dest",
        metavar="DIR",
        help=f"folder to write to (default: ${ENV_VAR}/NAME if set, else "
        "~/.cache/tomoprune/NAME; both are searched when loading)",
    )
    download.add_argument(
        "--mirror",
        action="append",
        metavar="URL",
        help="base URL to try instead of the built-in mirrors (repeatable; file:// works)",
    )
    download.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per mirror (default 30)"
    )
    download.set_defaults(func=_download)

    info = commands.add_parser(
        "info",
        help="where a dataset was found, its sizes, shapes and label counts",
    )
    info.add_argument("name", choices=DATASETS.names(), help="dataset")
    info.add_argument("--data-dir", metavar="DIR", help="folder to look in first")
    info.set_defaults(func=_info)

    verify = commands.add_parser(
        "verify",
        help="check a dataset's files against the published checksums and validate them",
    )
    verify.add_argument("name", choices=sorted(IDX_DATASETS), help="dataset")
    verify.add_argument("--data-dir", metavar="DIR", help="folder to look in first")
    verify.set_defaults(func=_verify)

    from tomoprune.cli import mdl_cmd  # compress / decompress a file with a byte transformer

    mdl_cmd.register_data(commands)


def _download(args: argparse.Namespace) -> int:
    dest = download_dataset(args.name, args.dest, mirrors=args.mirror, timeout=args.timeout)
    print(dest)
    return 0


def _info(args: argparse.Namespace) -> int:
    data = load_dataset(args.name, args.data_dir)
    console = Console()
    console.print(f"[bold]{data.name}[/bold] from {data.source}")
    if args.name in IDX_DATASETS:
        files = find_idx_files(idx_spec(args.name), args.data_dir)
        console.print(
            f"found via {files.origin}: " + ", ".join(p.name for p in files.paths().values())
        )
    console.print(
        f"train {tuple(data.train_x.shape)}, test {tuple(data.test_x.shape)}, "
        f"{data.num_classes} classes, normalised with mean {data.mean:.4f} std {data.std:.4f}"
    )
    table = Table(title="label counts")
    table.add_column("class", justify="right")
    table.add_column("train", justify="right")
    table.add_column("test", justify="right")
    train = torch.bincount(data.train_y, minlength=data.num_classes).tolist()
    test = torch.bincount(data.test_y, minlength=data.num_classes).tolist()
    for label in range(data.num_classes):
        table.add_row(str(label), str(train[label]), str(test[label]))
    table.add_row("all", str(sum(train)), str(sum(test)))
    console.print(table)
    return 0


def _verify(args: argparse.Namespace) -> int:
    report = verify_idx_dataset(idx_spec(args.name), args.data_dir)
    console = Console()
    table = Table(title=f"{args.name} in {report.files.directory}")
    for column in ("file", "checksum", "md5"):
        table.add_column(column)
    verdicts = {
        "archive": "published .gz",
        "content": "published content",
        "mismatch": "[red]differs[/red]",
    }
    for check in report.checks:
        table.add_row(check.path.name, verdicts[check.status], check.md5)
    console.print(table)
    console.print(f"{report.counts['train']} train / {report.counts['test']} test images, valid")
    require_verified(report)
    console.print(f"{args.name}: all four files match the published checksums")
    return 0
