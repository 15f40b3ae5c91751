"""The authors' recorded DTC run in tomoprune's record format: three runs (magnitude, random,
dtc) that ``tomoprune analyze --reference`` and the correlation comparison read like any other.

The recorded run is the paper's network (784 inputs, 512 hidden units, 10 classes), so its
widths, parameter counts and seeds are the paper's, not defaults of the generic analysis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tomoprune.analysis.runs import (
    MEASUREMENT_LAYERS,
    CycleMeasurement,
    PathLike,
    RunRecords,
    write_run_records,
)
from tomoprune.records.schema import CYCLE_COLUMNS
from tomoprune.reproduce.paper import METHODS, REFERENCE_SEED, load_reference_run

REFERENCE_INITIAL_WIDTH = 512
REFERENCE_INPUTS, REFERENCE_OUTPUTS = 784, 10


def reference_run_records(reference_path: PathLike | None = None) -> dict[str, RunRecords]:
    """The authors' recorded run as three in-memory runs: magnitude, random and dtc.

    Widths are ``round(512 * (1 - sparsity))``. The DTC run carries the recorded measurement
    vectors and uses the recorded weight rays as its scores; the recovered coefficient vectors
    were not recorded, so they are None.
    """
    ref = load_reference_run(reference_path)
    widths = np.rint(REFERENCE_INITIAL_WIDTH * (1.0 - ref.sparsity)).astype(int)
    before = np.concatenate([[REFERENCE_INITIAL_WIDTH], widths[:-1]])
    cycles = np.arange(1, widths.size + 1)
    nan = np.full(widths.size, np.nan)
    runs = {}
    for method in METHODS:
        params = (widths * (REFERENCE_INPUTS + REFERENCE_OUTPUTS)).astype(float)
        columns = {c: nan.copy() for c in CYCLE_COLUMNS}
        columns.update(
            cycle=cycles.astype(float),
            width=widths.astype(float),
            sparsity=ref.sparsity.copy(),
            parameters=params,
            nonzero_parameters=params.copy(),
            test_accuracy=ref.accuracy[method].copy(),
        )
        config: dict[str, Any] = {
            "method": method,
            "profile": "paper-reference",
            "dataset": {"name": "mnist"},
            "model": {
                "kind": "mlp",
                "inputs": REFERENCE_INPUTS,
                "hidden": REFERENCE_INITIAL_WIDTH,
                "outputs": REFERENCE_OUTPUTS,
            },
            "seeds": {"torch": REFERENCE_SEED, "numpy": REFERENCE_SEED},
            "source": {**ref.source, "converted_from": "dtc-mnist-reference-run.json"},
            "status": "finished",
            "note": "converted from the authors' recorded run; only test accuracy (and for dtc "
            "the measurement vectors and weight rays) were recorded",
        }
        measurements = None
        notes: list[str] = []
        if method == "dtc":
            config["dtc"] = {"lambda": ref.lam, "measurement_fraction": ref.measurement_fraction}
            measurements = tuple(
                CycleMeasurement(
                    cycle=int(c),
                    width_before=int(w),
                    n_measurements=int(prev.size),
                    measurements={"previous_layer": prev, "next_layer": nxt},
                    coefficients={layer: None for layer in MEASUREMENT_LAYERS},
                    scores=rays,
                )
                for c, w, prev, nxt, rays in zip(
                    cycles,
                    before,
                    ref.measurements_previous_layer,
                    ref.measurements_next_layer,
                    ref.weight_rays,
                    strict=True,
                )
            )
            notes.append(
                "no recovered coefficient vectors recorded: their zero share and norms are not "
                "available (weight rays use the recorded scores)."
            )
        runs[method] = RunRecords(
            name=f"reference-{method}",
            path=None,
            config=config,
            columns=columns,
            measurements=measurements,
            notes=tuple(notes),
        )
    return runs


def reference_run_dirs(
    out_dir: PathLike, reference_path: PathLike | None = None
) -> dict[str, Path]:
    """Write the authors' recorded run as run directories ``OUT/reference-{method}``.

    Returns
    -------
    dict
        Method name (``"magnitude"``, ``"random"``, ``"dtc"``) -> run directory.
    """
    out = Path(out_dir)
    return {
        method: write_run_records(records, out / records.name)
        for method, records in reference_run_records(reference_path).items()
    }
