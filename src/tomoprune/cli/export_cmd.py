"""``tomoprune export RUN_DIR --onnx FILE``: a run's final model as ONNX, verified."""

from __future__ import annotations

import argparse
from pathlib import Path

from tomoprune.cli.common import add_quiet, console, rows_table
from tomoprune.data.datasets import load_dataset
from tomoprune.errors import ConfigError, ExportError
from tomoprune.export.onnx import DEFAULT_TOLERANCE, export_onnx, verify_onnx
from tomoprune.records.io import atomic_write_json
from tomoprune.records.run_dir import RunDirectory
from tomoprune.runs.runner import load_run_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a run's final model (ONNX), checked against PyTorch with onnxruntime",
        description="Writes FILE (ONNX, dynamic batch) from RUN_DIR/model.safetensors, runs it "
        "under onnxruntime on the run's test images and compares with PyTorch: largest output "
        "difference and argmax agreement, written to FILE.check.json. Exits 1 when the outputs "
        "differ by more than --tolerance (relative to the outputs' scale when it exceeds 1).",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished or stopped run directory")
    parser.add_argument("--onnx", required=True, metavar="FILE", help="ONNX file to write")
    parser.add_argument("--data-dir", help="where the run's dataset lives (default: as recorded)")
    parser.add_argument(
        "--samples",
        type=int,
        default=1000,
        help="test images to verify on (default 1000; 0 = all)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help="largest allowed output difference, relative to max(1, largest output) "
        f"(default {DEFAULT_TOLERANCE:g})",
    )
    add_quiet(parser)
    parser.set_defaults(func=export_command)


def export_command(args: argparse.Namespace) -> int:
    if args.samples < 0:
        raise ConfigError(f"--samples must be 0 (all) or positive. Got {args.samples} instead.")
    if not args.tolerance >= 0:
        raise ConfigError(f"--tolerance must be non-negative. Got {args.tolerance} instead.")
    run_dir = Path(args.run_dir)
    config = load_run_config(run_dir)
    model = RunDirectory(run_dir).load_model()
    data = load_dataset(config.data.dataset, args.data_dir or config.data.data_dir)
    n = len(data.test_y) if args.samples == 0 else min(args.samples, len(data.test_y))
    inputs, labels = data.test_x[:n], data.test_y[:n]
    path = export_onnx(model, inputs[:2], args.onnx)
    check = verify_onnx(path, model, inputs, labels, tolerance=args.tolerance)
    report = {"onnx": str(path), "bytes": path.stat().st_size, **check.as_dict()}
    atomic_write_json(Path(f"{path}.check.json"), report)
    if not check.passed:
        raise ExportError(
            f"{path}: ONNX outputs differ from PyTorch's by {check.max_abs_diff:.3g}, more than "
            f"--tolerance {args.tolerance:g} x max(1, largest output {check.max_abs_output:.3g}) "
            f"on {check.samples} test images (file kept)."
        )
    if args.quiet:
        print(path)
        return 0
    shown = {
        "file": path.name,
        "bytes": report["bytes"],
        "samples": check.samples,
        "max abs diff": f"{check.max_abs_diff:.3g}",
        "argmax agreement": check.argmax_agreement,
        "PyTorch accuracy": check.torch_accuracy,
        "ONNX accuracy": check.onnx_accuracy,
    }
    out = console()
    out.print(rows_table("ONNX export checked with onnxruntime", [shown], list(shown)))
    out.print(f"Written: {path.resolve()}")
    return 0
