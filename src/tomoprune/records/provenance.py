"""Where a run's numbers came from: package versions, git commit, machine, threads."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

PACKAGES = (
    "tomoprune",
    "torch",
    "numpy",
    "scipy",
    "cvxpy",
    "scs",
    "clarabel",
    "statsmodels",
    "scikit-learn",
    "matplotlib",
    "safetensors",
    "torch-pruning",
    "onnx",
    "onnxruntime",
    "constriction",
    "ray",
)


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(start: Path | None = None) -> dict[str, Any] | None:
    """The commit of the source checkout tomoprune runs from, and whether it was modified."""
    where = start or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_description() -> dict[str, Any]:
    """The processor the numbers were computed on: different CPUs run different float kernels,
    so records that differ in the last digits across machines say which machine made which."""
    model = platform.processor() or platform.machine()
    flags: list[str] = []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                # the vector extensions that decide which float kernels run
                wanted = ("avx", "avx2", "avx512f", "avx512_bf16", "amx_tile", "fma")
                flags = [f for f in value.split() if f in wanted]
    except OSError:
        pass
    return {"model": model, "logical_cores": os.cpu_count(), "vector_flags": flags}


def provenance() -> dict[str, Any]:
    return {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_description(),
        "packages": package_versions(),
        "git": git_commit(),
        "torch_threads": torch.get_num_threads(),
        "command": sys.argv,
    }
