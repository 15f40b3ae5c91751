"""Two runs sharing one machine: two concurrent runs against the same two run one after another.

Each run is a separate ``tomoprune run`` process (DTC, ``--max-cycles`` cycles; MNIST when its
files are found, else the bundled digits data with a wider model). Two thread setups, side by
side in one benchmark so the machine's noise hits both alike:

* ``unmanaged``: the thread handling before ``runtime.prepare_thread_pools`` existed: torch is
  imported before the CLI, so OpenMP starts with its default wait policy (idle workers spin
  for a while), and every run takes all cores (``--threads`` = core count).
* ``managed``: the CLI as shipped: passive waiting (``OMP_WAIT_POLICY=PASSIVE``,
  ``KMP_BLOCKTIME=0``) and the default thread count.

The figure of merit is ``ratio = concurrent wall time / sequential wall time`` for the same two
runs: 1.0 means sharing the machine costs nothing against queueing; above 1 the runs slow each
other down more than queueing them would.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Measurement, write_results

ROOT = Path(__file__).resolve().parent.parent
# the CLI entry, with torch imported first (unmanaged) or not (managed)
ENTRIES = {
    "unmanaged": "import torch, sys; from tomoprune.cli import main; sys.exit(main())",
    "managed": "import sys; from tomoprune.cli import main; sys.exit(main())",
}


def workload(data_dir: Path | None, cycles: int) -> list[str]:
    """The run both processes do (the issue's case: a few DTC cycles on MNIST)."""
    if data_dir is not None:
        data = ["--dataset", "mnist", "--data-dir", str(data_dir)]
    else:
        data = ["--dataset", "digits", "--hidden", "512", "--set", "train.batch_size=256"]
    return ["run", "--method", "dtc", *data, "--max-cycles", str(cycles), "-q"]


def command(mode: str, argv: list[str], out: Path) -> list[str]:
    extra = ["--threads", str(os.cpu_count() or 1)] if mode == "unmanaged" else []
    return [sys.executable, "-c", ENTRIES[mode], *argv, *extra, "--out", str(out)]


def environment() -> dict[str, str]:
    """The caller's environment without thread settings (each setup chooses its own)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    for key in (
        "OMP_WAIT_POLICY",
        "KMP_BLOCKTIME",
        "GOMP_SPINCOUNT",
        "TOMOPRUNE_WAIT_POLICY_IN_FORCE",
    ):
        env.pop(key, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return env


def timed(commands: list[list[str]], concurrent: bool) -> float:
    """Wall seconds until every command has finished (all at once, or one after another)."""
    started = time.perf_counter()
    if concurrent:
        procs = [
            subprocess.Popen(c, env=environment(), stdout=subprocess.DEVNULL) for c in commands
        ]
        codes = [p.wait() for p in procs]
    else:
        codes = [
            subprocess.run(c, env=environment(), stdout=subprocess.DEVNULL).returncode
            for c in commands
        ]
    if any(codes):
        raise RuntimeError(f"a benchmark run failed (exit codes {codes})")
    return time.perf_counter() - started


def find_mnist() -> Path | None:
    folder = ROOT.parent / "shared" / "data" / "mnist"
    return folder if any(folder.glob("train-images*")) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--data",
        choices=("mnist", "digits"),
        default="mnist",
        help="mnist (when its files are found; the case the issue measured) or the bundled "
        "digits data (about ten times less work per step)",
    )
    args = parser.parse_args()
    data_dir = find_mnist() if args.data == "mnist" else None
    argv = workload(data_dir, args.cycles)
    rows = []
    for mode in ("unmanaged", "managed"):
        times = {"sequential": [], "concurrent": []}
        for _ in range(args.repeats):
            for how in ("sequential", "concurrent"):
                with tempfile.TemporaryDirectory() as tmp:
                    runs = [command(mode, argv, Path(tmp) / name) for name in ("a", "b")]
                    times[how].append(timed(runs, concurrent=how == "concurrent"))
        sequential, concurrent = min(times["sequential"]), min(times["concurrent"])
        for how, seconds in (("sequential", sequential), ("concurrent", concurrent)):
            rows.append(
                Measurement(
                    f"{mode}: two runs {how}",
                    seconds,
                    args.repeats,
                    tuple(times[how]),
                    extra={"ratio concurrent/sequential": concurrent / sequential},
                )
            )
        print(f"{mode}: sequential {sequential:.1f}s, concurrent {concurrent:.1f}s, "
              f"ratio {concurrent / sequential:.2f}", flush=True)  # fmt: skip
    write_results(
        "concurrency",
        rows,
        description=__doc__.split("\n\n")[0],
        config={
            "workload": " ".join(argv),
            "cycles": args.cycles,
            "repeats": args.repeats,
            "cores": os.cpu_count(),
            "dataset": "mnist" if data_dir else "digits",
        },
        notes=[
            "ratio = wall time of the two runs started together / wall time of the two run one "
            "after the other (best of the repeats); 1.0 = sharing costs nothing",
            "unmanaged = torch imported before the CLI (OpenMP's default wait policy), "
            "--threads = all cores; managed = the CLI as shipped",
        ],
    )


if __name__ == "__main__":
    main()
