"""Description length of a text file: byte transformers (none / DRR / R-L1 / PMMP) against the
classical compressors, and the prequential code.

``run_mdl`` writes, under ``OUT``:

- ``models/<method>/``: the exported model (``model.packed.safetensors``, the bytes a
  compressed file stores), the loop's ``cycles.csv`` and ``phases.csv``, and ``result.json``
  (model bytes, data bits, timings, the config and the file's SHA-256). A finished model whose
  config and file match is reused, so an interrupted reproduction resumes at the model level.
- ``prequential.json`` and ``baselines.json`` (reused the same way);
- ``mdl_table.csv`` and ``mdl_table.md``: one row per model, the prequential code, the online
  context-mixing codec (``tomoprune data compress``'s default), and every
  classical compressor on the whole file and on 512-byte chunks;
- ``provenance.json``: package versions, commit, machine, threads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tomoprune.config import override_dataclass
from tomoprune.engine.progress import Reporter
from tomoprune.errors import ConfigError
from tomoprune.fileio import (
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
    read_json,
)
from tomoprune.mdl import online
from tomoprune.mdl.baselines import baseline_sizes
from tomoprune.mdl.codelength import code_length_bits
from tomoprune.mdl.fit import METHODS, MDLConfig, fit_model, prequential_code_length, validate
from tomoprune.mdl.online import OnlineConfig
from tomoprune.records.provenance import provenance
from tomoprune.records.tables import format_cell
from tomoprune.records.writer import RunRecorder, build_header, clear

MODEL_FILE = "model.packed.safetensors"
RESULT_FILE = "result.json"
TABLE_CSV = "mdl_table.csv"
TABLE_MD = "mdl_table.md"
TABLE_COLUMNS = (
    "coder",  # "none", "drr", ... / "prequential" / "tomoprune online" / a classical compressor
    "protocol",  # "two-part", "online", "online (context mixing)", "whole file", "512-byte chunks"
    "parameters",
    "nonzero",
    "model_bytes",  # the exported sparse model (float16 values + presence bits)
    "data_bits",  # code length of the file under the model
    "total_bits",  # 8 x model bytes + data bits (for a compressor: 8 x its output)
    "total_bytes",
    "bits_per_byte",
    "train_steps",
    "seconds",
)


def parse_methods(text: str | None) -> tuple[str, ...]:
    if not text:
        return tuple(METHODS)
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in METHODS]
    if unknown or not names:
        raise ConfigError(
            f"The '--methods' option must list some of {', '.join(METHODS)}. Got {text!r} instead."
        )
    return names


def resolve_config(overrides: dict[str, Any] | None = None) -> MDLConfig:
    """The CPU defaults with dotted ``--set`` overrides (e.g. ``model.d_model=128``)."""
    config = override_dataclass(MDLConfig(), dict(overrides or {}))
    validate(config)
    return config


def _fingerprint(data: bytes, config: MDLConfig) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "config": dataclasses.asdict(config)}


def _reusable(path: Path, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    stored = read_json(path)
    same = {k: stored.get(k) for k in fingerprint} == fingerprint
    return stored if same else None


def run_model(
    data: bytes,
    method: str,
    config: MDLConfig,
    out: Path,
    *,
    reporter: Reporter | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Fit (or reuse) one model and measure its description length; returns its result."""
    folder = out / "models" / method
    fingerprint = {"method": method, **_fingerprint(data, config)}
    done = _reusable(folder / RESULT_FILE, fingerprint)
    if done is not None and (folder / MODEL_FILE).is_file():
        return done
    clear(folder)  # an unfinished earlier fit starts afresh
    header = build_header(
        method=method,
        profile="mdl",
        config=json.loads(json.dumps(dataclasses.asdict(config), default=str)),
        seeds={"seed": config.seed, "split_seed": config.split_seed},
        extra={"task": "language-model", "fingerprint": fingerprint},
    )
    # the run directory (config.json, cycles.csv, phases.csv, summary.json, model) comes from
    # the one record writer; the packed model and the code length are this experiment's own
    fit = fit_model(data, method, config, reporter=reporter, recorder=RunRecorder(folder, header))
    started = time.perf_counter()
    bits = code_length_bits(fit.model, data, on_progress=on_progress)
    atomic_write_bytes(folder / MODEL_FILE, fit.model_bytes)
    parameters = sum(p.numel() for p in fit.model.parameters())
    nonzero = sum(int((p != 0).sum()) for p in fit.model.parameters())
    result = {
        **fingerprint,
        "model_bytes": len(fit.model_bytes),
        "data_bits": bits,
        "bytes_coded": len(data),
        "parameters": parameters,
        "nonzero": nonzero,
        "train_steps": fit.steps,
        "train_seconds": fit.seconds,
        "code_length_seconds": time.perf_counter() - started,
    }
    atomic_write_json(folder / RESULT_FILE, result)
    return result


def run_prequential(
    data: bytes, config: MDLConfig, out: Path, *, reporter: Reporter | None = None
) -> dict[str, Any]:
    path = out / "prequential.json"
    fingerprint = _fingerprint(data, config)
    done = _reusable(path, fingerprint)
    if done is not None:
        return done
    result = prequential_code_length(data, config, reporter=reporter)
    payload = {
        **fingerprint,
        "data_bits": result.data_bits,
        "bytes_coded": result.bytes_coded,
        "train_steps": result.steps,
        "seconds": result.seconds,
    }
    atomic_write_json(path, payload)
    return payload


def run_baselines(data: bytes, out: Path) -> list[dict[str, Any]]:
    path = out / "baselines.json"
    fingerprint = {"sha256": hashlib.sha256(data).hexdigest()}
    done = _reusable(path, fingerprint)
    if done is not None:
        return done["rows"]
    rows = [
        {
            "coder": size.compressor,
            "protocol": size.protocol,
            "total_bytes": size.bytes,
            "total_bits": 8 * size.bytes,
            "bits_per_byte": size.bits_per_byte,
        }
        for size in baseline_sizes(data)
    ]
    atomic_write_json(path, {**fingerprint, "rows": rows})
    return rows


def model_row(method: str, result: dict[str, Any]) -> dict[str, Any]:
    total = 8.0 * result["model_bytes"] + result["data_bits"]
    return {
        "coder": method,
        "protocol": "two-part",
        "parameters": result["parameters"],
        "nonzero": result["nonzero"],
        "model_bytes": result["model_bytes"],
        "data_bits": result["data_bits"],
        "total_bits": total,
        "total_bytes": total / 8.0,
        "bits_per_byte": total / result["bytes_coded"],
        "train_steps": result["train_steps"],
        "seconds": result["train_seconds"] + result["code_length_seconds"],
    }


def prequential_row(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "coder": "prequential",
        "protocol": "online",
        "model_bytes": 0,
        "data_bits": result["data_bits"],
        "total_bits": result["data_bits"],
        "total_bytes": result["data_bits"] / 8.0,
        "bits_per_byte": result["data_bits"] / result["bytes_coded"],
        "train_steps": result["train_steps"],
        "seconds": result["seconds"],
    }


def write_table(out: Path, rows: Sequence[dict[str, Any]], source: str, n_bytes: int) -> None:
    atomic_write_csv(out / TABLE_CSV, TABLE_COLUMNS, rows)
    atomic_write_text(out / TABLE_MD, markdown_table(rows, source, n_bytes))


def _cell(value: Any, digits: int) -> str:
    return format_cell(value, digits, thousands=True)


def markdown_table(rows: Sequence[dict[str, Any]], source: str, n_bytes: int) -> str:
    lines = [
        f"# Description length of {source} ({n_bytes:,} bytes)",
        "",
        "| coder | protocol | nonzero / parameters | model bytes | data bits | total bytes "
        "| bits per byte |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        params = f"{row['nonzero']:,} / {row['parameters']:,}" if row.get("parameters") else "-"
        lines.append(
            f"| {row['coder']} | {row['protocol']} | {params} | {_cell(row.get('model_bytes'), 0)} "
            f"| {_cell(row.get('data_bits'), 0)} | {_cell(float(row['total_bytes']), 0)} "
            f"| {row['bits_per_byte']:.3f} |"
        )
    lines += [
        "",
        "Two-part rows: total = 8 x model bytes (the exported sparse model: float16 values and "
        "presence bits) + data bits (the file's code length under that model). The prequential "
        "row codes each batch before training on it and transmits no model; the tomoprune "
        "online row is the context-mixing codec's whole file (header included). Classical rows: the "
        "compressor's output on the whole file, or summed over 512-byte chunks compressed "
        "separately.",
        "",
    ]
    return "\n".join(lines)


def online_row(data: bytes, config: OnlineConfig) -> dict[str, Any]:
    """The online context-mixing codec's file on the whole text (no model is transmitted)."""
    blob = online.compress(data, config)
    return {
        "coder": "tomoprune online",
        "protocol": "online (context mixing)",
        "model_bytes": 0,
        "data_bits": 8 * (len(blob) - online.HEADER.size),
        "total_bits": 8 * len(blob),
        "total_bytes": len(blob),
        "bits_per_byte": 8 * len(blob) / len(data),
    }


def write_provenance(out: Path, data: bytes, config: MDLConfig, source: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        out / "provenance.json",
        {"source": source, **_fingerprint(data, config), "provenance": provenance()},
    )


def run_mdl(
    data: bytes,
    out: Path,
    *,
    source: str,
    config: MDLConfig,
    methods: Sequence[str] = tuple(METHODS),
    prequential: bool = True,
    online_config: OnlineConfig | None = None,
    reporter_factory: Callable[[], Reporter] = Reporter,
    announce: Callable[[str], None] = lambda message: None,
) -> list[dict[str, Any]]:
    """Everything the table needs (reusing finished pieces), then the table; returns its rows.
    With ``online_config``, the online context-mixing codec's row follows the models'."""
    write_provenance(out, data, config, source)
    announce("classical compressors (whole file and 512-byte chunks)")
    classical = run_baselines(data, out)
    rows = []
    for method in methods:
        announce(f"model '{method}'")
        rows.append(
            model_row(method, run_model(data, method, config, out, reporter=reporter_factory()))
        )
    if prequential:
        announce("prequential (online) code")
        rows.append(
            prequential_row(run_prequential(data, config, out, reporter=reporter_factory()))
        )
    if online_config is not None:
        announce("online context-mixing codec")
        rows.append(online_row(data, online_config))
    rows += classical
    write_table(out, rows, source, len(data))
    return rows
