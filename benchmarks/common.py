"""Shared helpers for the named benchmarks: timing, memory, result files and the results table.

Every benchmark script times callables with :func:`measure` (median of repeats after a warm-up),
collects :class:`Measurement` objects, and calls :func:`write_results`, which writes
``benchmarks/results/<name>.json`` atomically together with the machine, library versions and
thread settings, then re-renders ``benchmarks/results/README.md`` from all result files, so
the table always matches the JSON beside it.
"""

from __future__ import annotations

import datetime as _dt
import gc
import importlib.metadata
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tomoprune.fileio import atomic_write_json, atomic_write_text, read_json

RESULTS_DIR = Path(__file__).resolve().parent / "results"
OUT_VARIABLE = "TOMOPRUNE_BENCH_OUT"
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


@dataclass(frozen=True)
class Measurement:
    """One timed quantity.

    Attributes
    ----------
    name : str
        Row label, e.g. ``"native m=512"``.
    median_s : float
        Median wall time of the timed repeats, in seconds (``nan`` when skipped).
    repeats : int
        Number of timed repeats (0 when skipped).
    times_s : tuple of float
        Every timed repeat, in order.
    peak_mb : float or None
        Peak Python-visible allocation of one extra, untimed run (tracemalloc; numpy arrays
        are included), in MiB, when asked for.
    extra : dict
        Benchmark-specific scalars shown as further table columns (objective gap, speed-up,
        problem size, a note why something was skipped, ...).
    """

    name: str
    median_s: float
    repeats: int
    times_s: tuple[float, ...] = ()
    peak_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def with_extra(self, **values: Any) -> Measurement:
        """A copy with more ``extra`` columns (measurements are frozen)."""
        return Measurement(
            self.name, self.median_s, self.repeats, self.times_s, self.peak_mb,
            {**self.extra, **values},
        )  # fmt: skip


def time_repeats(
    fn: Callable[[], Any], *, repeats: int, warmup: int = 1
) -> tuple[list[float], Any]:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed.

    Returns the list of wall times (``time.perf_counter``) and the last return value.
    """
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def peak_allocation_mb(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Peak memory allocated while running ``fn`` once, in MiB, via tracemalloc.

    numpy reports its buffers to tracemalloc, so this covers arrays; memory that native
    libraries allocate on their own (BLAS work space, FFT plans, solver internals) is not seen:
    :func:`max_rss_mb` is the coarse upper bound for those.
    """
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20, result


def max_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (``getrusage``)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def measure(
    name: str,
    fn: Callable[[], Any],
    *,
    repeats: int = 5,
    warmup: int = 1,
    track_memory: bool = False,
    **extra: Any,
) -> tuple[Measurement, Any]:
    """Time ``fn`` (median of ``repeats`` after ``warmup``) and optionally its peak memory.

    Returns the measurement and the last result of ``fn`` (so callers can check answers).
    """
    times, result = time_repeats(fn, repeats=repeats, warmup=warmup)
    peak = None
    if track_memory:
        peak, result = peak_allocation_mb(fn)
    median = statistics.median(times) if times else float("nan")
    return Measurement(name, median, len(times), tuple(times), peak, dict(extra)), result


def skipped(name: str, reason: str, **extra: Any) -> Measurement:
    """A row that records why something was not measured."""
    return Measurement(name, float("nan"), 0, (), None, {**extra, "note": reason})


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def thread_settings() -> dict[str, Any]:
    """Thread pools as they are now: BLAS/OpenMP (threadpoolctl), torch, and the env vars."""
    settings: dict[str, Any] = {
        "env": {var: os.environ.get(var) for var in THREAD_ENV_VARS},
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }
    try:
        from threadpoolctl import threadpool_info

        settings["threadpools"] = [
            {k: pool.get(k) for k in ("user_api", "internal_api", "num_threads", "version")}
            for pool in threadpool_info()
        ]
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        settings["threadpools"] = None
    if "torch" in sys.modules:  # never import torch just to ask
        torch = sys.modules["torch"]
        settings["torch_threads"] = torch.get_num_threads()
        settings["torch_interop_threads"] = torch.get_num_interop_threads()
    return settings


def environment_info() -> dict[str, Any]:
    """Machine, interpreter, library versions, thread settings and the git commit."""
    return {
        "timestamp_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            pkg: _version(pkg)
            for pkg in (
                "tomoprune",
                "numpy",
                "scipy",
                "torch",
                "cvxpy",
                "scs",
                "clarabel",
                "scikit-learn",
                "threadpoolctl",
            )
        },
        "threads": thread_settings(),
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def write_results(
    name: str,
    measurements: Sequence[Measurement],
    *,
    description: str,
    config: Mapping[str, Any] | None = None,
    notes: Iterable[str] = (),
    results_dir: Path | None = None,
) -> Path:
    """Write ``<results_dir>/<name>.json`` atomically and re-render the README table.

    ``results_dir`` defaults to ``results_directory()``: ``benchmarks/results/``, or the folder
    ``make bench BENCH_OUT=...`` (``benchmarks.run --out``) names.

    Parameters
    ----------
    name : str
        Benchmark name (file stem), e.g. ``"solver"``.
    measurements : sequence of Measurement
        Rows of the table, in display order.
    description : str
        One or two sentences saying what is measured and how.
    config : mapping, optional
        The settings the numbers depend on (sizes, repeats, seeds, thread limits).
    notes : iterable of str
        Caveats: skipped cases, caps, deviations.
    """
    record = {
        "name": name,
        "description": description,
        "config": dict(config or {}),
        "notes": list(notes),
        "environment": environment_info(),
        "measurements": [asdict(m) for m in measurements],
    }
    results_dir = results_dir or results_directory()
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    atomic_write_json(path, record)
    render_readme(results_dir)
    return path


def results_directory() -> Path:
    """Where results go: ``$TOMOPRUNE_BENCH_OUT`` (set by ``benchmarks.run --out``) or
    ``benchmarks/results/``."""
    chosen = os.environ.get(OUT_VARIABLE)
    return Path(chosen) if chosen else RESULTS_DIR


def render_readme(results_dir: Path = RESULTS_DIR) -> Path:
    """Render every ``*.json`` result in ``results_dir`` into ``README.md`` (Markdown tables)."""
    lines = [
        "# Benchmark results",
        "",
        "Generated from the JSON files in this folder by `benchmarks/common.py`; do not edit by",
        "hand. Re-run a benchmark (`python benchmarks/bench_<name>.py`) to refresh its section.",
        "",
    ]
    for path in sorted(results_dir.glob("*.json")):
        lines += _render_section(read_json(path))
    out = results_dir / "README.md"
    atomic_write_text(out, "\n".join(lines).rstrip() + "\n")
    return out


def _render_section(record: Mapping[str, Any]) -> list[str]:
    env = record.get("environment", {})
    versions = env.get("versions", {})
    threads = env.get("threads", {})
    pools = threads.get("threadpools") or []
    pool_text = ", ".join(f"{p.get('internal_api')}={p.get('num_threads')}" for p in pools)
    lines = [
        f"## {record.get('name')}",
        "",
        str(record.get("description", "")),
        "",
        f"Run {env.get('timestamp_utc')} on {env.get('platform')} ({threads.get('cpu_count')} "
        f"CPUs); python {env.get('python')}, numpy {versions.get('numpy')}, scipy "
        f"{versions.get('scipy')}, torch {versions.get('torch')}; thread pools: "
        f"{pool_text or 'n/a'}; commit {str(env.get('git_commit'))[:10]}.",
        "",
    ]
    rows = record.get("measurements", [])
    extra_keys: list[str] = []
    for row in rows:
        for key in row.get("extra", {}):
            if key not in extra_keys and key != "note":
                extra_keys.append(key)
    has_peak = any(row.get("peak_mb") is not None for row in rows)
    has_note = any("note" in row.get("extra", {}) for row in rows)
    header = ["case", "median", "repeats"] + (["peak MiB"] if has_peak else []) + extra_keys
    header += ["note"] if has_note else []
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        extra = row.get("extra", {})
        cells = [
            str(row.get("name")),
            _format_seconds(row.get("median_s")),
            str(row.get("repeats")),
        ]
        if has_peak:
            cells.append(_format_value(row.get("peak_mb")))
        cells += [_format_value(extra.get(key)) for key in extra_keys]
        if has_note:
            cells.append(str(extra.get("note", "")))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for note in record.get("notes", []):
        lines.append(f"- {note}")
    if record.get("notes"):
        lines.append("")
    return lines


def _format_seconds(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    value = float(value)
    if value >= 1.0:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.2f} ms"
    return f"{value * 1e6:.0f} us"


def _format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "-"
        if value == 0.0:
            return "0"
        if abs(value) >= 1e4 or abs(value) < 1e-3:
            return f"{value:.2e}"
        return f"{value:.4g}"
    return str(value)
