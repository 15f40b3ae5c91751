"""Fitting a byte transformer to a file through the one train-compress loop.

``fit_model`` builds the language-model task (``data.text.text_task``), the transformer and an
l0 method (``dense``, ``drr``, ``rl1`` or ``pmmp``, the same ``L0Method`` as for classifiers:
regularised training to the validation plateau, random gradient pruning, the TAMADE threshold,
masked fine-tuning) and runs ``CompressionLoop``. The model returned is the one a compressed
file stores (float16 values), and its code length is measured in that precision.

Which tensors are regularised and thresholded: the token and position embeddings and every
Linear layer's weight and bias (attention in/out projections, MLPs, the output head). The
LayerNorm gains and biases are not (``methods.l0.base``); they are stored dense.

``prequential_code_length`` is the online code: one pass over the file in order, each batch of
segments coded under the current model *before* the model trains on it (the stream measures
it as the loop draws the batch), the tail at the end. A decoder that repeats the training
needs no transmitted model, so this counts data bits only.

``alpha`` defaults to the description-length weight: a stored parameter costs about 17 bits
(a float16 value and a presence bit), the data term is the mean code length in nats per byte,
so ``alpha = 17 ln 2 / N`` makes ``loss + alpha * (count of non-zero parameters)`` the
description length per byte, with DRR's and PMMP's terms as that count's surrogates. R-L1
penalises ``|theta|`` rather than a count; its alpha is divided by ``rl1_scale`` (a typical
weight magnitude) to be on the same footing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from tomoprune.config import TrainConfig
from tomoprune.data.text import segments, text_task
from tomoprune.engine.batches import BatchStream
from tomoprune.engine.compress import CompressionLoop
from tomoprune.engine.progress import Reporter
from tomoprune.errors import ConfigError
from tomoprune.mdl.codelength import segment_bits
from tomoprune.mdl.model_io import round_trip
from tomoprune.methods.l0.method import L0Method
from tomoprune.methods.l0.settings import DenseParams, DRRParams, L0Params, PMMPParams, RL1Params
from tomoprune.models.transformer import ByteTransformer, TransformerConfig

# the table's names -> the l0 method that trains the model
METHODS: dict[str, str] = {"none": "dense", "drr": "drr", "rl1": "rl1", "pmmp": "pmmp"}
BITS_PER_STORED_PARAMETER = 17  # a float16 value and a presence bit


def _cpu_train() -> TrainConfig:
    return TrainConfig(batch_size=32, lr=2e-3, eval_batch_size=256, data_seed=0)


@dataclass(frozen=True, kw_only=True)
class MDLConfig:
    """Model, training and method settings of a dataset-compression run. CPU-sized defaults
    (~44k parameters, 400 steps of 32 x 64 bytes, about a CPU-minute of training per model);
    raise ``model.*`` and the step caps for better models."""

    model: TransformerConfig = field(default_factory=TransformerConfig)
    train: TrainConfig = field(default_factory=_cpu_train)
    calibration_segments: int = 128  # segments for the plateau test and TAMADE
    split_seed: int = 0
    seed: int = 0  # the loop's generators (random gradient pruning)
    warmup_steps: int = 100  # unregularised steps first
    regularised_max_steps: int = 200
    finetune_max_steps: int = 100
    eval_every: int = 25
    patience: int = 4
    alpha: float | None = None  # None: the description-length weight 17 ln 2 / N
    rl1_scale: float = 0.02
    beta: float = 5.0  # DRR sharpness (the paper's transformers)
    tamade_delta: float = 0.02  # the paper's tolerance for transformers
    gradient_prune_samples: int = 32
    group_size: int = 4096  # segments coded together by the compressor


def validate(config: MDLConfig) -> None:
    checks = [
        ("calibration_segments", config.calibration_segments >= 1, "at least 1"),
        ("warmup_steps", config.warmup_steps >= 0, "non-negative"),
        ("regularised_max_steps", config.regularised_max_steps >= 1, "at least 1"),
        ("finetune_max_steps", config.finetune_max_steps >= 0, "non-negative"),
        ("eval_every", config.eval_every >= 1, "at least 1"),
        ("rl1_scale", config.rl1_scale > 0, "positive"),
        ("group_size", config.group_size >= 1, "at least 1"),
        ("train.batch_size", config.train.batch_size >= 1, "at least 1"),
    ]
    for key, ok, requirement in checks:
        if not ok:
            raise ConfigError(f"The '{key}' setting must be {requirement}.")
    if config.alpha is not None and config.alpha < 0:
        raise ConfigError(f"The 'alpha' setting must be non-negative. Got {config.alpha}.")


def description_length_alpha(n_bytes: int) -> float:
    """``17 ln 2 / N``: nats per byte that one more stored parameter costs."""
    return BITS_PER_STORED_PARAMETER * math.log(2.0) / n_bytes


def l0_params(method: str, config: MDLConfig, n_bytes: int) -> L0Params:
    """The l0 method's hyperparameters for table row ``method`` ("none", "drr", "rl1", "pmmp")."""
    shared: dict[str, Any] = {
        "eval_every": config.eval_every,
        "patience": config.patience,
        "tamade_delta": config.tamade_delta,
        "gradient_prune_samples": config.gradient_prune_samples,
    }
    if method == "none":
        steps = config.warmup_steps + config.regularised_max_steps + config.finetune_max_steps
        return DenseParams(regularised_max_steps=steps, **shared)
    alpha = description_length_alpha(n_bytes) if config.alpha is None else config.alpha
    staged = {
        "warmup_steps": config.warmup_steps,
        "regularised_max_steps": config.regularised_max_steps,
        "finetune_max_steps": config.finetune_max_steps,
        **shared,
    }
    if method == "drr":
        return DRRParams(alpha=alpha, beta=config.beta, **staged)
    if method == "rl1":
        return RL1Params(alpha=alpha / config.rl1_scale, **staged)
    if method == "pmmp":
        return PMMPParams(alpha=alpha, **staged)
    raise ConfigError(f"The method must be one of {', '.join(METHODS)}. Got {method!r} instead.")


@dataclass
class FitResult:
    model: ByteTransformer  # as stored (float16 values)
    model_bytes: bytes
    rows: list[dict[str, Any]]
    phases: list[dict[str, Any]]
    seconds: float
    steps: int


def fit_model(
    data: bytes,
    method: str,
    config: MDLConfig,
    *,
    reporter: Reporter | None = None,
    device: torch.device | None = None,
    recorder: Any = None,
) -> FitResult:
    """Train (and, for a regulariser, sparsify) a byte transformer on ``data``.

    With ``recorder`` (a ``records.writer.RunRecorder``) the training writes a run directory
    like every other command's.
    """
    validate(config)
    if method not in METHODS:
        raise ConfigError(
            f"The method must be one of {', '.join(METHODS)}. Got {method!r} instead."
        )
    device = device or torch.device("cpu")
    task = text_task(
        data,
        context=config.model.context,
        calibration_segments=config.calibration_segments,
        seed=config.split_seed,
    )
    l0 = L0Method(METHODS[method], l0_params(method, config, len(data)))
    loop = CompressionLoop(
        model=ByteTransformer(config.model),
        method=l0,
        task=task,
        train=config.train,
        device=device,
        reporter=reporter,
        seed=config.seed,
        recorder=recorder,
    )
    result = loop.run()
    stored, blob = round_trip(result.model.cpu())
    return FitResult(
        model=stored,
        model_bytes=blob,
        rows=result.rows,
        phases=result.phases,
        seconds=result.seconds,
        steps=sum(int(r["train_steps"]) for r in result.rows),
    )


class PrequentialStream(BatchStream):
    """The file's segments in order; each batch is coded under the current model first."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, *, batch_size: int) -> None:
        super().__init__(
            x, y, batch_size=batch_size, shuffle=False, restart_each_cycle=False, seed=0
        )
        self.model_of: Callable[[], nn.Module] | None = None
        self.bits = 0.0
        self.coded = 0  # segments coded so far

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = super().next_batch()
        if self.epoch == 0 and self.model_of is not None:
            model = self.model_of()
            was_training = model.training
            self.bits += float(segment_bits(model, y).sum())  # eval-free model: no dropout
            model.train(was_training)
            self.coded += y.shape[0]
        return x, y


@dataclass
class PrequentialResult:
    data_bits: float
    bytes_coded: int
    seconds: float
    steps: int


def prequential_code_length(
    data: bytes, config: MDLConfig, *, reporter: Reporter | None = None
) -> PrequentialResult:
    """Online code length of ``data``: one ordered pass, each batch coded before training on it
    (unregularised training, the dense baseline's settings); the tail under the final model."""
    validate(config)
    task = text_task(
        data,
        context=config.model.context,
        calibration_segments=config.calibration_segments,
        seed=config.split_seed,
    )
    batch = config.train.batch_size
    steps = math.ceil(task.train_x.shape[0] / batch)
    stream = PrequentialStream(task.train_x, task.train_y, batch_size=batch)
    params = DenseParams(regularised_max_steps=steps, eval_every=steps, patience=1)
    loop = CompressionLoop(
        model=ByteTransformer(config.model),
        method=L0Method("dense", params),
        task=task,
        train=config.train,
        device=torch.device("cpu"),
        reporter=reporter,
        seed=config.seed,
        stream=stream,
    )
    stream.model_of = lambda: loop.model
    started = time.perf_counter()
    loop.run()
    if stream.coded != task.train_x.shape[0]:
        raise RuntimeError(f"prequential pass coded {stream.coded} of {task.train_x.shape[0]}")
    bits = stream.bits
    _, tail = segments(data, config.model.context)
    if tail.numel():
        bits += float(segment_bits(loop.model, tail[None]).sum())
    return PrequentialResult(
        data_bits=bits,
        bytes_coded=len(data),
        seconds=time.perf_counter() - started,
        steps=steps,
    )
