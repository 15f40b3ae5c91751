"""The Ray backend: each run a Ray task on a local Ray instance, records as the local backend's."""

import time

import pytest

from tomoprune.fileio import read_csv, read_json
from tomoprune.records.schema import WALL_CLOCK_COLUMNS
from tomoprune.sweeps.aggregate import aggregate_sweep
from tomoprune.sweeps.runner import run_sweep
from tomoprune.sweeps.spec import parse_spec

ray = pytest.importorskip("ray")

SPEC = {
    "sweep": {"name": "ray", "seeds": [0, 3]},
    "base": {
        "profile": "reference",
        "data": {"dataset": "mnist"},
        "train": {"steps_per_cycle": 2},
        "model": {"hidden": 24},
    },
    "axes": {"method": ["random", "dtc"]},
}
TIMING = {*WALL_CLOCK_COLUMNS, "seconds"}


def without_timings(node):
    if isinstance(node, dict):
        return {k: without_timings(v) for k, v in node.items() if k not in TIMING}
    if isinstance(node, list):
        return [without_timings(v) for v in node]
    return node


def records(run_dir):
    """What a run computed: its cycle rows without timings, measurements, final model bytes."""
    rows = [
        {k: v for k, v in r.items() if k not in TIMING} for r in read_csv(run_dir / "cycles.csv")
    ]
    config = read_json(run_dir / "config.json")
    measurements = run_dir / "measurements.json"
    return {
        "rows": rows,
        "config": config["config"],
        "status": config["status"],
        "measurements": without_timings(read_json(measurements))
        if measurements.is_file()
        else None,
        "model": (run_dir / "model.safetensors").read_bytes(),
    }


def test_ray_backend_gives_the_local_backend_s_records(tiny_idx_dir, tmp_path):
    spec = parse_spec(SPEC)
    overrides = {"data.data_dir": str(tiny_idx_dir)}
    local = run_sweep(spec, tmp_path / "local", overrides=overrides, workers=1)
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = run_sweep(spec, tmp_path / "ray", overrides=overrides, backend="ray")
    finally:
        ray.shutdown()
    seconds = time.perf_counter() - started
    assert local.ok and remote.ok, [o.error for o in local.failures + remote.failures]
    assert len(remote.outcomes) == 4 and {o.status for o in remote.outcomes} == {"finished"}
    for run in spec.expand(overrides):
        a = records(tmp_path / "local" / "runs" / run.name)
        b = records(tmp_path / "ray" / "runs" / run.name)
        assert a["status"] == b["status"] == "finished"
        assert a == b, run.name
    assert read_json(tmp_path / "ray" / "sweep.json")["backend"] == "ray"
    print(f"Ray sweep of 4 tiny runs, Ray start included: {seconds:.1f} s")
    # the aggregate of a sweep with DTC runs: the Gibbs correlation per seed and pooled
    summary = aggregate_sweep(tmp_path / "ray", figures=False)
    pooled = {g["accuracy_method"]: g for g in summary["gibbs_pooled"]}
    assert set(pooled) == {"dtc", "random"} and pooled["dtc"]["n"] == 2
    # these 24-unit runs stop at sparsity 0.58: no pooled comparison above 0.85, said so
    assert "no cycle of these runs reaches sparsity 0.85" in summary["sentences"][0]
