"""Run every named benchmark in turn (``make bench``); each writes results/<name>.json and the
results README. Pass ``--only NAME`` to run one."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

from benchmarks.common import OUT_VARIABLE

# `make bench`: the quick suite (a few minutes); `make bench-full`: every benchmark
QUICK = ("cli", "solver", "lenet5_step", "online_codec")
BENCHMARKS = (
    "cli",
    "solver",
    "weight_level",
    "training",
    "end_to_end",
    "lenet5_step",
    "sweep",
    "greedy",
    "greedy_rescoring",
    "greedy_conv",
    "posttraining",
    "posttraining_24",
    "codec",
    "online_codec",
    "concurrency",
    "zoo",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=BENCHMARKS, action="append")
    parser.add_argument("--full", action="store_true", help="every benchmark (default: quick)")
    parser.add_argument(
        "--out", help="folder for the results (default: benchmarks/results/, the committed ones)"
    )
    args = parser.parse_args()
    if args.out:
        os.environ[OUT_VARIABLE] = str(Path(args.out).resolve())
    for name in args.only or (BENCHMARKS if args.full else QUICK):
        module = importlib.import_module(f"benchmarks.bench_{name}")
        started = time.perf_counter()
        print(f"== benchmark {name}", flush=True)
        sys.argv = [f"bench_{name}"]
        module.main()
        print(f"== {name} took {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
