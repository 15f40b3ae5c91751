"""``tomoprune compress --method gptq|sparsegpt|wanda|rtn``: the post-training driver as a run
method.

Each compressor's settings dataclass is extended with what a run adds to it -- the layer
patterns (Sequential positions such as "2" in a run's model; empty: every weighted layer),
sequential or dense-input calibration, and how many calibration samples to use (none: all) --
and registered in the method table, so ``--set method.group_size=128`` and the config records
speak the compressor's own setting names. Those settings and the registrations are in
``settings`` (no torch); this module runs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from tomoprune.engine.method import CompressionOutcome, CycleContext, OneShotCompression
from tomoprune.methods.l0.sparse_export import (
    SPARSE_EXPORT_FILE,
    export_columns,
    write_sparse_export,
)
from tomoprune.posttraining.base import Compressor, LayerProblem
from tomoprune.posttraining.driver import PostTrainingReport, compress_, select_layers
from tomoprune.posttraining.export import save_quantized
from tomoprune.posttraining.layers import weight_matrix

QUANTIZED_FILE = "model.packed.safetensors"
# rows of calibration inputs per forward pass (the Hessian is accumulated batch by batch)
CALIBRATION_BATCH = 256


class DriverCompression(OneShotCompression):
    """Compresses a trained model once with ``compress_``; never trains."""

    def __init__(self, name: str, params: Any) -> None:
        super().__init__(name, params)
        self.settings: Compressor = params.compressor()
        self.report: PostTrainingReport | None = None

    def patterns(self) -> list[str] | None:
        return list(self.params.layers) or None

    def preflight(self, model: nn.Module) -> None:
        """Check layers and shapes before a run directory exists (one-line ConfigError)."""
        for name, module in select_layers(model, self.patterns()).items():
            w = weight_matrix(module)
            self.settings.check_layer(LayerProblem(name=name, weight=w, hessian=None, samples=0))

    def compress(self, model: nn.Module, context: CycleContext) -> CompressionOutcome:
        x = self.calibration_inputs(context)
        if self.params.calibration_size is not None:
            x = x[: self.params.calibration_size]
        batches = list(torch.split(x, CALIBRATION_BATCH))
        self.report = compress_(
            model,
            self.settings,
            calibration=batches,
            layers=self.patterns(),
            sequential=self.params.sequential,
        )
        self.layers = self.report.layers
        self.done = True
        row = {
            "post_training": self.name,
            "bits": self.settings.quant_bits,
            "layers": ";".join(r["layer"] for r in self.layers),
            "calibration_samples": int(x.shape[0]),
        }
        return CompressionOutcome(model=model, row=row)

    def export(self, model: nn.Module, out: Path) -> dict[str, Any]:
        """The packed quantized file, or the sparse file, with its size against float32."""
        assert self.report is not None
        if self.report.quant:
            path = out / QUANTIZED_FILE
            size = save_quantized(model, self.report, path)
        else:
            path = out / SPARSE_EXPORT_FILE
            size = write_sparse_export(model, path)
        return export_columns(model, path, size)


def build_method(name: str, params: Any, run_config: Any) -> DriverCompression:
    """The factory of ``--method gptq|sparsegpt`` (``MethodSpec.factory``)."""
    return DriverCompression(name, params)
