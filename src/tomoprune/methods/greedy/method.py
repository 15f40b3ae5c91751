"""Post-training methods of the one train-compress loop: no training phase, one compress cycle.

Registered names (family "post-training"): ``greedy-prune``, ``greedy-quant`` (the randomized
greedy compressor), ``weight-magnitude`` (``magnitude`` on ``tomoprune compress``, which
differs from the neuron-level ``magnitude`` of train-compress runs), ``wanda-baseline``,
``rtn-baseline`` and ``obs`` (SparseGPT in prune mode, GPTQ on the paper's grid in quant mode):
the baselines of the greedy comparisons, on the paper's grid, with ``structured=true``; layers
are weighted-layer indices. ``gptq``, ``sparsegpt``, ``wanda`` and ``rtn`` with all their
settings (N:M, group sizes, grids) and layer name patterns are registered by
``tomoprune.methods.posttraining_params``. The settings and the registrations of this module's
methods are in ``params`` (no torch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from tomoprune.engine.method import CompressionOutcome, CycleContext, OneShotCompression
from tomoprune.methods.greedy.algorithm import check_greedy, greedy_compress
from tomoprune.methods.greedy.baselines import baseline_compress, check_baseline
from tomoprune.methods.greedy.export import QUANTIZED_EXPORT_FILE, write_quantized_export
from tomoprune.methods.greedy.layers import weighted_positions
from tomoprune.methods.greedy.params import (
    COMPRESS_ALIASES,
    FAMILY,
    GreedyQuantParams,
    QuantBaselineParams,
)
from tomoprune.methods.l0.sparse_export import (
    SPARSE_EXPORT_FILE,
    export_columns,
    write_sparse_export,
)
from tomoprune.posttraining.replacement import UniformGrid


class PostTrainingCompression(OneShotCompression):
    """Compresses a trained model once, from calibration data; never trains."""

    def __init__(self, name: str, params: Any) -> None:
        super().__init__(name, params)
        self.grids: dict[int, UniformGrid] = {}

    def preflight(self, model: nn.Sequential) -> None:
        """Check settings and layer indices before a run directory exists."""
        if self.name.startswith("greedy"):
            check_greedy(model, self.params)
        else:
            check_baseline(model, BASELINE_OF[self.name], self.params)

    def compress(self, model: nn.Sequential, context: CycleContext) -> CompressionOutcome:
        x = self.calibration_inputs(context)
        if self.name.startswith("greedy"):
            rng = np.random.default_rng(self.params.seed)
            result = greedy_compress(model, x, self.params, rng)
        else:
            result = baseline_compress(model, x, BASELINE_OF[self.name], self.params)
        self.layers = result.layers
        self.grids = result.grids
        self.done = True
        row = {
            "post_training": self.name,
            "mode": self.params.mode,
            "bits": self.params.bits if self.params.mode == "quant" else None,
            "layers": ";".join(str(r["layer"]) for r in result.layers),
        }
        return CompressionOutcome(model=result.model, row=row)

    def export(self, model: nn.Sequential, out: Path) -> dict[str, Any]:
        """Write the honest storage file and return its sizes against dense float32."""
        if self.params.mode == "quant":
            positions = weighted_positions(model)
            grids = {f"{positions[i]}.weight": g for i, g in self.grids.items()}
            path = out / QUANTIZED_EXPORT_FILE
            size = write_quantized_export(model, grids, path)
        else:
            path = out / SPARSE_EXPORT_FILE
            size = write_sparse_export(model, path)
        return export_columns(model, path, size)


BASELINE_OF = {
    "weight-magnitude": "magnitude",
    "wanda-baseline": "wanda",
    "rtn-baseline": "rtn",
    "obs": "obs",
}


def build_method(name: str, params: Any, run_config: Any) -> PostTrainingCompression:
    """The factory of the greedy and baseline post-training methods (``MethodSpec.factory``)."""
    return PostTrainingCompression(name, params)


__all__ = [
    "BASELINE_OF",
    "COMPRESS_ALIASES",
    "FAMILY",
    "GreedyQuantParams",
    "PostTrainingCompression",
    "QuantBaselineParams",
    "build_method",
]
