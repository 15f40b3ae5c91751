"""CLI start-up: how long help and a refused setting take, as ratios to ``python -c pass``.

Each case is a fresh interpreter (the way a user meets the CLI), run ``--repeats`` times,
interleaved with the ``python -c pass`` baseline so the machine's noise hits all alike. The goal
(issue: a fast, light CLI) is ``--help`` under 0.5 s and a misspelt setting refused under 1 s;
the ratio to the bare interpreter is what carries across machines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from benchmarks.common import Measurement, write_results

ENTRY = "import sys; from tomoprune.cli import main; sys.exit(main())"
CASES = {
    "python -c pass": ["-c", "pass"],
    "tomoprune --help": ["-c", ENTRY, "--help"],
    "tomoprune run --help": ["-c", ENTRY, "run", "--help"],
    "tomoprune compress --help": ["-c", ENTRY, "compress", "--help"],
    "misspelt run setting (train.lrr)": ["-c", ENTRY, "run", "--set", "train.lrr=1"],
    "misspelt method setting (method.lamb)": [
        "-c", ENTRY, "run", "--method", "dtc", "--set", "method.lamb=1",
    ],
}  # fmt: skip


def wall(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for case in CASES.values():  # warm the file cache once
        wall(case)
    print(f"load average {os.getloadavg()[0]:.1f}")
    for _ in range(args.repeats):
        for name, case in CASES.items():
            times[name].append(wall(case))
    base = statistics.median(times["python -c pass"])
    rows = []
    for name, values in times.items():
        median = statistics.median(values)
        rows.append(
            Measurement(name, median, len(values), tuple(values), None, {"ratio": median / base})
        )
        print(f"{name:40s} {median:6.3f} s  x{median / base:5.1f}")
    write_results(
        "cli",
        rows,
        description="Wall time of fresh CLI processes, median of repeats interleaved with the "
        "bare interpreter; ratio = median / median of `python -c pass`.",
        # the machine's load when measured: absolute times on a shared machine follow it
        config={"repeats": args.repeats, "load_average_1_5_15_min": os.getloadavg()},
    )


if __name__ == "__main__":
    main()
