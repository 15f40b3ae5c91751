"""End to end: ``reproduce table1`` against its floor and against a reference-style pipeline.

(a) The wall time of the three reference-profile runs (magnitude, random, DTC; 34 cycles each)
    against the sum over the run of the floor of each training step (the bare matrix products
    at that cycle's width, timed here) -- how much the loop, data and solver add.
(b) The first cycles of the same three runs through a pipeline like the published notebook's:
    a ``DataLoader`` applying a per-sample transform (uint8 image -> PIL -> float tensor ->
    normalise) and cvxpy + SCS, side by side with ours for the same cycles.
Peak memory (max RSS) of the process is reported too.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.bench_training import floor_step_seconds
from benchmarks.common import Measurement, max_rss_mb, skipped, write_results
from tomoprune import config as cfg
from tomoprune.data.catalog import idx_spec
from tomoprune.data.idx import read_idx
from tomoprune.data.locate import find_idx_files
from tomoprune.errors import DataError
from tomoprune.reproduce import table1
from tomoprune.runs.resolve import resolve_run_config
from tomoprune.runs.runner import build_loop, make_task

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class PerSampleMNIST(torch.utils.data.Dataset):
    """MNIST served one image at a time, transformed on every access (as torchvision does)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = Image.fromarray(self.images[index], mode="L")
        tensor = torch.from_numpy(np.array(image, dtype=np.uint8)).to(torch.float32).div(255)
        tensor = tensor.unsqueeze(0).sub(MNIST_MEAN).div(MNIST_STD)
        return tensor, int(self.labels[index])


class LoaderStream:
    """The loop's batch source backed by a DataLoader (file order, restarted every cycle)."""

    def __init__(self, dataset: PerSampleMNIST, batch_size: int) -> None:
        self.loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
        self.iterator = iter(self.loader)

    def start_cycle(self) -> None:
        self.iterator = iter(self.loader)

    def next_batch(self):
        try:
            return next(self.iterator)
        except StopIteration:
            self.iterator = iter(self.loader)
            return next(self.iterator)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        del state


def run_cycles(method: str, data_dir: str, cycles: int | None, per_sample: bool) -> float:
    """Seconds for the first ``cycles`` cycles (None: all) of one reference-profile run."""
    overrides = {"data.dataset": "mnist", "data.data_dir": data_dir}
    config = resolve_run_config(method, profile="reference", overrides=overrides)
    task = make_task(config)
    stream = None
    if per_sample:
        files = find_idx_files(idx_spec("mnist"), data_dir)
        images = read_idx(files.train_images)
        labels = read_idx(files.train_labels)
        stream = LoaderStream(PerSampleMNIST(images, labels), config.train.batch_size)
    loop = build_loop(config, task, max_cycles=cycles, stream=stream)
    started = time.perf_counter()
    loop.run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist")
    )
    parser.add_argument(
        "--pipeline-cycles", type=int, default=None, help="cycles per run (default: all)"
    )
    args = parser.parse_args()
    rows: list[Measurement] = []
    notes = []
    try:
        find_idx_files(idx_spec("mnist"), args.data_dir)
    except DataError as exc:
        rows.append(skipped("reproduce table1", str(exc)))
        write_results("end_to_end", rows, description=__doc__.split("\n\n")[0])
        return
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        run_dirs, _ = table1.run_methods(args.data_dir, Path(tmp))
        wall = time.perf_counter() - started
        table1.write_table1(Path(tmp), run_dirs)
        widths = {}
        for method, run_dir in run_dirs.items():
            series = table1.read_series(run_dir, method)
            widths[method] = [512, *series.widths[:-1]]  # width trained in each cycle
    floors = {
        w: floor_step_seconds(w, steps=20, repeats=3)
        for w in sorted({w for ws in widths.values() for w in ws})
    }
    steps = cfg.TrainConfig().steps_per_cycle
    floor_total = sum(floors[w] * steps for ws in widths.values() for w in ws)
    rows.append(
        Measurement(
            "reproduce table1 (3 runs x 34 cycles)",
            wall,
            1,
            extra={
                "floor_s": floor_total,
                "ratio_to_floor": wall / floor_total,
                "target_ratio": 1.3,
                "peak_rss_mb": max_rss_mb(),
            },
        )
    )
    span = "all cycles" if args.pipeline_cycles is None else f"first {args.pipeline_cycles} cycles"
    ours_total = baseline_total = 0.0
    for method in table1.METHODS:
        ours = run_cycles(method, args.data_dir, args.pipeline_cycles, per_sample=False)
        baseline = run_cycles(method, args.data_dir, args.pipeline_cycles, per_sample=True)
        ours_total += ours
        baseline_total += baseline
        rows.append(
            Measurement(
                f"{method}: {span}, ours",
                ours,
                1,
                extra={
                    "per_sample_pipeline_s": baseline,
                    "speedup": baseline / ours,
                    "target_speedup": 5.0,
                },
            )
        )
    rows.append(
        Measurement(
            f"all three: {span}, ours",
            ours_total,
            1,
            extra={
                "per_sample_pipeline_s": baseline_total,
                "speedup": baseline_total / ours_total,
                "target_speedup": 5.0,
            },
        )
    )
    notes.append(
        "The per-sample pipeline evaluates on in-memory tensors like ours, so its "
        "time is a lower bound of the notebook's and the speed-up is conservative."
    )
    path = write_results(
        "end_to_end",
        rows,
        description=__doc__.split("\n\n")[0],
        config={
            "data_dir": args.data_dir,
            "pipeline_cycles": args.pipeline_cycles,
            "floors_s_per_step": {str(k): v for k, v in floors.items()},
        },
        notes=notes,
    )
    for row in rows:
        print(row.name, f"{row.median_s:.2f}s", row.extra)
    print(path)


if __name__ == "__main__":
    main()
