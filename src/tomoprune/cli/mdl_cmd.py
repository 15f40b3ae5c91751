"""``tomoprune reproduce mdl`` and ``tomoprune data compress`` / ``decompress``."""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tomoprune import config as cfg
from tomoprune.cli.common import add_quiet, console, reporter_for, rows_table
from tomoprune.data.text import find_text_file, read_bytes
from tomoprune.errors import ConfigError, DataError
from tomoprune.mdl import codec, container, online
from tomoprune.mdl.codelength import code_length_bits
from tomoprune.mdl.fit import METHODS, fit_model
from tomoprune.mdl.model_io import unpack_model
from tomoprune.records.io import atomic_write_bytes
from tomoprune.reproduce import mdl, mdl_sizes

SUFFIX = ".tpz"
MODES = ("online", "two-part")
SHOWN = ["coder", "protocol", "model_bytes", "data_bits", "total_bytes", "bits_per_byte"]
SIZES_SHOWN = [
    "prefix_bytes",
    "coder",
    "compressed_bytes",
    "bits_per_byte",
    "vs_xz_percent",
    "encode_kB_per_s",
    "decode_kB_per_s",
]


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a setting, e.g. online.table_bits=22 (online mode), model.d_model=128, "
        "model.layers=4, train.batch_size=64, regularised_max_steps=2000, alpha=1e-5 "
        "(repeatable)",
    )


def register_reproduce(which: argparse._SubParsersAction) -> None:
    parser = which.add_parser(
        "mdl",
        help="l0 paper: description length of a text under byte transformers vs gzip/bzip2/xz/zstd",
        description="Trains unregularised, DRR, R-L1 and PMMP byte transformers on the file "
        "(OUT/models/<method>/, finished models reused) and the prequential code, runs the "
        "online context-mixing codec and the classical compressors on the whole file and on "
        "512-byte chunks, and writes OUT/mdl_table.csv and mdl_table.md. Then the sizes "
        "table: the online codec and the classical compressors (and with --sizes-two-part "
        "the two-part codec) on prefixes of the file, with encode/decode throughput, in "
        "OUT/sizes_table.csv and sizes_table.md.",
    )
    parser.add_argument("--text", metavar="FILE", help="text file (default: world192.txt)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument(
        "--methods", help=f"comma-separated subset of {','.join(METHODS)} (default: all)"
    )
    parser.add_argument(
        "--no-prequential", action="store_true", help="skip the online (prequential) code"
    )
    parser.add_argument(
        "--sizes",
        metavar="LIST",
        help=f"prefix lengths for the sizes table, bytes or 'all' (default {mdl_sizes.DEFAULT_SIZES})",
    )
    parser.add_argument(
        "--sizes-only",
        action="store_true",
        help="only the sizes table (no transformers: a few minutes for world192.txt)",
    )
    parser.add_argument(
        "--sizes-two-part",
        action="store_true",
        help="also fit and run the two-part (DRR) codec on every prefix (slow)",
    )
    _add_set(parser)
    add_quiet(parser)
    parser.set_defaults(func=reproduce_command)


def register_data(commands: argparse._SubParsersAction) -> None:
    comp = commands.add_parser(
        "compress",
        help="compress a file (default: online context mixing; or a fitted byte transformer)",
        description="Online mode (the default): a context-mixing model (hashed contexts, a "
        "match model, logistic mixers) learns while it codes, and the decoder repeats its "
        "steps; no model is stored. Two-part mode: fits a byte transformer to FILE (or uses "
        "--model), then writes the model and the range-coded bytes. Output: OUT (default "
        "FILE.tpz).",
    )
    comp.add_argument("file", metavar="FILE")
    comp.add_argument("-o", "--output", metavar="OUT", help=f"output file (default FILE{SUFFIX})")
    comp.add_argument(
        "--mode",
        choices=MODES,
        default="online",
        help="online (context mixing, no stored model; default) or two-part (byte "
        "transformer + its code, for the description-length experiments)",
    )
    comp.add_argument(
        "--model",
        metavar="MODEL",
        help="two-part mode: a model exported by 'reproduce mdl' "
        "(OUT/models/<method>/model.packed.safetensors) instead of training one",
    )
    comp.add_argument(
        "--method", choices=list(METHODS), help="two-part mode: regulariser (default drr)"
    )
    comp.add_argument(
        "--check-length",
        action="store_true",
        help="also compute the ideal code length (summed -log2 p; two-part: plus the model "
        "bits) and compare the file's size with it",
    )
    comp.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    _add_set(comp)
    add_quiet(comp)
    comp.set_defaults(func=compress_command)

    dec = commands.add_parser(
        "decompress",
        help="restore a file written by 'data compress' (checked against its SHA-256)",
    )
    dec.add_argument("file", metavar="FILE")
    dec.add_argument(
        "-o", "--output", metavar="OUT", help=f"output file (default FILE without {SUFFIX})"
    )
    dec.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    add_quiet(dec)
    dec.set_defaults(func=decompress_command)


def _byte_progress(quiet: bool, description: str, total: int):
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console(),
        transient=True,
        disable=quiet,
    )
    task = progress.add_task(description, total=total)
    return progress, lambda done: progress.update(task, completed=done)


def reproduce_command(args: argparse.Namespace) -> int:
    coder_overrides, model_overrides = _split_overrides(args.overrides)
    coder = online_config(coder_overrides)
    config = mdl.resolve_config(model_overrides)
    methods = mdl.parse_methods(args.methods)
    path = find_text_file(args.text)
    data = read_bytes(path, min_bytes=config.model.context)
    sizes = mdl_sizes.parse_sizes(args.sizes, len(data))
    out = Path(args.out)
    say = (lambda message: None) if args.quiet else console().print
    if not args.sizes_only:
        rows = mdl.run_mdl(
            data,
            out,
            source=path.name,
            config=config,
            methods=methods,
            prequential=not args.no_prequential,
            online_config=coder,
            reporter_factory=lambda: reporter_for(args),
            announce=say,
        )
        if not args.quiet:
            shown = [{k: row.get(k) for k in SHOWN} for row in rows]
            console().print(rows_table(f"Description length of {path.name}", shown, SHOWN))
    else:
        mdl.write_provenance(out, data, config, path.name)
    size_rows = mdl_sizes.run_sizes(
        data,
        out,
        sizes=sizes,
        online_config=coder,
        two_part=config if args.sizes_two_part else None,
        reporter_factory=lambda: reporter_for(args),
        announce=say,
    )
    mdl_sizes.write_sizes_table(out, size_rows, path.name, coder)
    if args.quiet:
        print(out)
        return 0
    console().print(rows_table(f"Sizes: prefixes of {path.name}", size_rows, SIZES_SHOWN))
    console().print(f"Results: {out.resolve()}")
    return 0


def _output_path(given: str | None, default: Path, force: bool) -> Path:
    out = Path(given) if given else default
    if out.exists() and not force:
        raise DataError(f"{out}: already exists; pass --force to overwrite it or -o OTHER.")
    return out


def _split_overrides(items: list[str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """``--set`` options as (online-coder settings without the prefix, two-part settings)."""
    overrides = cfg.parse_set_options(items)
    prefix = "online."
    coder = {k[len(prefix) :]: v for k, v in overrides.items() if k.startswith(prefix)}
    rest = {k: v for k, v in overrides.items() if not k.startswith(prefix)}
    return coder, rest


def online_config(overrides: dict[str, str]) -> online.OnlineConfig:
    config = cfg.override_dataclass(online.OnlineConfig(), overrides)
    online.validate(config)
    return config


def compress_command(args: argparse.Namespace) -> int:
    source = Path(args.file)
    if not source.is_file():
        raise DataError(f"{source}: file not found; pass an existing file to compress.")
    out = _output_path(args.output, source.with_name(source.name + SUFFIX), args.force)
    coder_overrides, model_overrides = _split_overrides(args.overrides)
    if args.mode == "online":
        two_part_only = {"--model": args.model, "--method": args.method}
        given = [flag for flag, value in two_part_only.items() if value]
        if given or model_overrides:
            what = ", ".join(given + [f"--set {k}" for k in model_overrides])
            raise ConfigError(
                f"{what}: only the two-part mode takes a model; pass --mode two-part, or drop "
                "them (the online mode takes --set online.KEY=VALUE)."
            )
        return _compress_online(args, source, out, online_config(coder_overrides))
    if coder_overrides:
        raise ConfigError(
            "--set online.*: only the online mode takes these settings; drop them or pass "
            "--mode online."
        )
    return _compress_two_part(args, source, out, model_overrides)


def _compress_online(
    args: argparse.Namespace, source: Path, out: Path, config: online.OnlineConfig
) -> int:
    data = read_bytes(source, min_bytes=0)  # an empty file compresses to a header
    started = time.perf_counter()
    with (
        console().status("encoding (online context mixing)", spinner="dots")
        if not args.quiet
        else contextlib.nullcontext()
    ):
        blob = online.compress(data, config)
    encode_seconds = time.perf_counter() - started
    atomic_write_bytes(out, blob)
    if args.quiet:
        print(out)
        return 0
    rows = [
        {"part": "header", "bytes": online.HEADER.size},
        {"part": "arithmetic code", "bytes": len(blob) - online.HEADER.size},
        {"part": "file", "bytes": len(blob)},
    ]
    console().print(rows_table(f"{out.name}", rows, ["part", "bytes"]))
    console().print(
        f"{len(data):,} -> {len(blob):,} bytes ({8 * len(blob) / max(len(data), 1):.4f} bits "
        f"per byte); encoding {encode_seconds:.1f} s "
        f"({len(data) / max(encode_seconds, 1e-9) / 1e3:.1f} kB/s, compilation included on "
        "the first run)"
    )
    if args.check_length:
        _, probabilities = online.encode(data, config, trace=True)
        ideal = online.ideal_bits(data, probabilities) / 8.0 + online.HEADER.size
        console().print(
            f"ideal code length {ideal:,.0f} bytes (header {online.HEADER.size} + summed "
            f"-log2 p); the file is {100 * (len(blob) / ideal - 1):+.3f} % of it"
        )
    return 0


def _compress_two_part(
    args: argparse.Namespace, source: Path, out: Path, overrides: dict[str, str]
) -> int:
    config = mdl.resolve_config(overrides)
    data = read_bytes(source)
    say = (lambda message: None) if args.quiet else console().print
    if args.model:
        model_path = Path(args.model)
        if not model_path.is_file():
            raise DataError(
                f"{model_path}: model file not found; pass OUT/models/<m>/{mdl.MODEL_FILE}."
            )
        try:
            model = unpack_model(model_path.read_bytes())
        except Exception as exc:  # safetensors, JSON and shape errors alike
            raise DataError(f"{model_path}: not a byte-transformer export ({exc}).") from None
        train_seconds = 0.0
    else:
        method = args.method or "drr"
        say(f"fitting a byte transformer ({method}) to {source.name}")
        fit = fit_model(data, method, config, reporter=reporter_for(args))
        model, train_seconds = fit.model, fit.seconds
    progress, update = _byte_progress(args.quiet, "encoding", len(data))
    started = time.perf_counter()
    with progress:
        blob, sizes = codec.compress(model, data, group_size=config.group_size, on_progress=update)
    encode_seconds = time.perf_counter() - started
    atomic_write_bytes(out, blob)
    if args.quiet:
        print(out)
        return 0
    rows = [
        {"part": "header", "bytes": sizes.header_bytes},
        {"part": "model", "bytes": sizes.model_bytes},
        {"part": "arithmetic code", "bytes": sizes.code_bytes},
        {"part": "file", "bytes": sizes.total},
    ]
    console().print(rows_table(f"{out.name}", rows, ["part", "bytes"]))
    console().print(
        f"{len(data):,} -> {sizes.total:,} bytes ({8 * sizes.total / len(data):.4f} bits per "
        f"byte); training {train_seconds:.1f} s, encoding {encode_seconds:.1f} s "
        f"({len(data) / encode_seconds / 1e3:.1f} kB/s)"
    )
    if args.check_length:
        progress, update = _byte_progress(False, "measuring", len(data))
        with progress:
            bits = code_length_bits(
                unpack_model(blob[codec.HEADER.size : codec.HEADER.size + sizes.model_bytes]),
                data,
                on_progress=update,
            )
        ideal = sizes.model_bytes + bits / 8.0
        console().print(
            f"description length {ideal:,.0f} bytes (model {sizes.model_bytes:,} + data "
            f"{bits / 8:,.0f}); the file is {100 * (sizes.total / ideal - 1):+.3f} % of it"
        )
    return 0


def decompress_command(args: argparse.Namespace) -> int:
    source = Path(args.file)
    if not source.is_file():
        raise DataError(f"{source}: file not found; pass a file written by 'data compress'.")
    default = (
        source.with_name(source.name[: -len(SUFFIX)])
        if source.name.endswith(SUFFIX)
        else source.with_name(source.name + ".out")
    )
    out = _output_path(args.output, default, args.force)
    blob = source.read_bytes()
    length = container.original_length(blob, str(source))
    progress, update = _byte_progress(args.quiet, "decoding", length)
    started = time.perf_counter()
    with progress:
        data = container.decompress(blob, name=str(source), on_progress=update)
    seconds = time.perf_counter() - started
    atomic_write_bytes(out, data)
    if args.quiet:
        print(out)
    else:
        console().print(
            f"{out}: {len(data):,} bytes restored, SHA-256 verified; decoding {seconds:.1f} s "
            f"({len(data) / max(seconds, 1e-9) / 1e3:.1f} kB/s)"
        )
    return 0
