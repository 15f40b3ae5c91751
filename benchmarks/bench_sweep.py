"""Sweep throughput: the same runs one after another against the local process pool.

The same set of short reference-profile runs (real MNIST when present, else a synthetic
MNIST-shaped set; fewer steps per cycle and a narrower network than the paper so the bench takes
minutes) is executed three ways, in alternating order, in one process of this benchmark:

* ``sequential, 2 threads``: one run at a time, torch using both cores (``run`` in a loop);
* ``sequential, 1 thread``: one run at a time on one core;
* ``sweep pool, 2 x 1 thread``: the sweep's local backend, two worker processes of one thread.

Reported: wall time, runs per hour and the ratio to the sequential 2-thread case, and whether the
records (cycle rows without timings) are identical between the executions. This is the
measurement behind the local backend's default of one thread per run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import Measurement, write_results
from tomoprune.fileio import read_csv
from tomoprune.sweeps.execute import run_local
from tomoprune.sweeps.runner import tasks_for
from tomoprune.sweeps.spec import parse_spec

TIMING_COLUMNS = {"train_seconds", "prune_seconds"}


def dataset_dir(folder: Path) -> tuple[str, str]:
    """Real MNIST when present (``../shared/data/mnist``), else a synthetic IDX set."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    if (shared / "train-images-idx3-ubyte.gz").is_file():
        return str(shared), "MNIST (60k/10k)"
    from tomoprune.data.idx import write_idx

    rng = np.random.default_rng(0)
    for prefix, n in (("train", 6000), ("t10k", 1000)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        images[np.arange(n), labels * 2 + 4, 4:24] = 255  # a learnable stripe per class
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return str(folder), "synthetic MNIST-shaped (6k/1k)"


def records(run_dir: Path) -> list[dict[str, str]]:
    rows = read_csv(run_dir / "cycles.csv")
    return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5, help="training batches per cycle")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds of all three")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data_dir, data_name = dataset_dir(tmp_path)
        spec = parse_spec(
            {
                "sweep": {"name": "bench", "seeds": args.seeds},
                "base": {
                    "profile": "reference",
                    "data": {"dataset": "mnist", "data_dir": data_dir},
                    "train": {"steps_per_cycle": args.steps},
                    "model": {"hidden": args.hidden},
                },
                "axes": {"method": ["random", "dtc"]},
            }
        )
        runs = spec.expand()
        cases = {
            "sequential, 2 threads": (1, 2),
            "sequential, 1 thread": (1, 1),
            "sweep pool, 2 x 1 thread": (2, 1),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        outputs: dict[str, Path] = {}
        for r in range(args.rounds):
            for name, (workers, threads) in cases.items():
                out = tmp_path / f"{name.split(',')[0].replace(' ', '-')}-{threads}-{r}"
                tasks = tasks_for(runs, out / "runs", None, threads)
                started = time.perf_counter()
                outcomes = run_local(tasks, workers, lambda outcome: None)
                times[name].append(time.perf_counter() - started)
                failed = [o.error for o in outcomes if not o.ok]
                if failed:
                    raise RuntimeError(f"{name}: runs failed: {failed}")
                outputs[name] = out
        base = statistics.median(times["sequential, 2 threads"])
        reference_records = {
            run.name: records(outputs["sequential, 1 thread"] / "runs" / run.name) for run in runs
        }
        rows = []
        for name, series in times.items():
            median = statistics.median(series)
            identical = all(
                records(outputs[name] / "runs" / run.name) == reference_records[run.name]
                for run in runs
            )
            rows.append(
                Measurement(
                    name,
                    median,
                    len(series),
                    tuple(series),
                    extra={
                        "runs": len(runs),
                        "runs_per_hour": 3600 * len(runs) / median,
                        "speedup_vs_sequential_2_threads": base / median,
                        "records_as_1_thread": identical,
                    },
                )
            )
    load_after = os.getloadavg()
    path = write_results(
        "sweep",
        rows,
        description=__doc__.split("\n\n")[0],
        config={
            "data": data_name,
            "runs": [r.name for r in runs],
            "steps_per_cycle": args.steps,
            "hidden": args.hidden,
            "rounds": args.rounds,
            "load_average_before": load_before,
            "load_average_after": load_after,
        },
        notes=[
            f"load average (1, 5, 15 min) before {tuple(round(x, 1) for x in load_before)}, "
            f"after {tuple(round(x, 1) for x in load_after)}: the machine was shared, so the "
            "ratios, measured side by side, are what to read",
            "records_as_1_thread: cycle rows (timings excluded) identical to the sequential "
            "1-thread execution's",
        ],
    )
    for row in rows:
        print(
            f"{row.name:28s} {row.median_s:8.1f} s  {row.extra['runs_per_hour']:7.0f} runs/h  "
            f"x{row.extra['speedup_vs_sequential_2_threads']:.2f}  "
            f"identical={row.extra['records_as_1_thread']}"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
