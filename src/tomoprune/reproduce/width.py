"""``tomoprune reproduce width-tradeoff``: compressibility against width (El Cheairi, Gamarnik,
Mazumder, Appendix C).

For each width and seed the paper's MLP is trained (Adam, no biases), then its first layer
(as a tall-then-wide pair scored at the second layer's output) and, separately, its second
layer (as a wide layer) are compressed: greedy pruning (alpha, p) with ``repeats`` independent
draws, greedy quantization at each bit width, and beside them the baselines at the same
density (magnitude, Wanda, SparseGPT) or bits (round-to-nearest, GPTQ). Every compressed net
is measured by Delta = c^(-2m) E ||Phi(x) - Phi_hat(x)||^2 on the test split and by its
accuracy (R^2 for regression). Architectures (d inputs, o outputs, w the width):

- unstructured: W1 (w x d), W2 (40 x w), W3 (o x 40);
- structured:   W1 (w x d), W2 (20 x w), W3 (o x 20); whole rows of W1 (pair) or whole
  columns of W2 (wide) are pruned and the dead units removed;
- cnn (image data): softmax(Wfc ReLU(K2 * ReLU(K1 * x))), K1 (w x c x 3 x 3), K2
  (16 x w x 3 x 3), 3x3 convolutions with padding 1 (the image size is kept), Wfc
  (o x 16 h w): 1024 inputs on Digits' 8x8 images. Set-up K1 prunes K1's output filters (a
  pair scored at K2's output), K2 prunes K2's input channels (a wide layer); dead filters are
  removed.

Structured set-ups (structured, cnn) have unit-level baselines at the same number of units
kept: magnitude (unit weight norm), wanda (the unit's energy through the next layer) and
ls-refit (wanda's units, the next layer re-solved by least squares). Without ``widths`` each
architecture uses its own (MLPs 10 .. 1000, the CNN 20 .. 100 channels as in the paper).

Trained nets are saved under ``nets/`` and every measurement appended to ``results.csv``
after each net, so an interrupted experiment continues where it stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tomoprune.data.datasets import Dataset, load_dataset
from tomoprune.engine.batches import BatchStream
from tomoprune.engine.method import Phase
from tomoprune.engine.train import make_criterion, make_optimizer, train_phase
from tomoprune.errors import ConfigError, DataError
from tomoprune.fileio import atomic_write_csv, atomic_write_json, atomic_write_text, read_csv
from tomoprune.methods.greedy.algorithm import greedy_compress
from tomoprune.methods.greedy.baselines import baseline_compress
from tomoprune.methods.greedy.metrics import (
    normalised_error,
    outputs,
    scale_constants,
    task_score,
)
from tomoprune.methods.greedy.params import BaselineParams, GreedyParams
from tomoprune.methods.greedy.structured_baselines import STRUCTURED_LABELS
from tomoprune.models.spec import load_model, save_model
from tomoprune.records.provenance import provenance
from tomoprune.reproduce.width_report import render_width_markdown

ARCHITECTURES = ("unstructured", "structured", "cnn")
STRUCTURED = ("structured", "cnn")
MIDDLE = {"unstructured": 40, "structured": 20}
CNN_MIDDLE_CHANNELS = 16  # K2's output filters
# each architecture's widths when the user gives none (hidden units, or K1's filters)
DEFAULT_WIDTHS = {
    "unstructured": (10, 25, 50, 100, 250, 500, 1000),
    "structured": (10, 25, 50, 100, 250, 500, 1000),
    "cnn": (20, 40, 60, 80, 100),
}
# (set-up name, weighted layer, role): the first layer as a pair scored at the second layer's
# output, the second as a wide layer
SETUPS = {
    "unstructured": (("W1", 0, "pair"), ("W2", 1, "wide")),
    "structured": (("W1", 0, "pair"), ("W2", 1, "wide")),
    "cnn": (("K1", 0, "pair"), ("K2", 1, "wide")),
}
RESULT_COLUMNS = [
    "dataset", "architecture", "setup", "mode", "bits", "method", "width", "seed", "repeat",
    "delta", "output_mse", "score", "dense_score", "density", "seconds",
]  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class WidthConfig:
    """Everything that determines the experiment's numbers (recorded in experiment.json)."""

    dataset: str = "digits"
    data_dir: str | None = None
    # None: each architecture's own (DEFAULT_WIDTHS: MLPs 10 .. 1000, CNN 20 .. 100)
    widths: tuple[int, ...] | None = None
    seeds: int = 3
    repeats: int = 10  # the paper: 50
    architectures: tuple[str, ...] = ("unstructured", "structured")
    bits: tuple[int, ...] = (2, 3, 4, 8)
    alpha: float = 0.9
    p: float = 0.3
    prune_baselines: tuple[str, ...] = ("magnitude", "wanda", "obs")
    quant_baselines: tuple[str, ...] = ("rtn", "obs")
    # training: Adam, full passes over the training split
    epochs: int = 60
    batch_size: int = 128
    lr: float = 1e-3
    # at most this many training samples (None: all); MNIST runs use a subset on a small CPU
    train_size: int | None = None
    calibration_size: int = 512
    # rescoring rounds of unstructured pair layers (None: after every step, the exact greedy)
    rescore_rounds: int | None = 8
    # the theory's projection of each compressed layer's output (GreedyParams.project_output)
    project_output: bool = False


def widths_of(config: WidthConfig, architecture: str) -> tuple[int, ...]:
    return config.widths if config.widths is not None else DEFAULT_WIDTHS[architecture]


def check_config(config: WidthConfig) -> None:
    """One-line errors for settings the experiment cannot run."""
    unknown = [a for a in config.architectures if a not in ARCHITECTURES]
    if unknown or not config.architectures:
        raise ConfigError(
            f"Unknown architecture(s) {', '.join(map(repr, unknown)) or '(none given)'} in the "
            f"'architectures' setting; valid: {', '.join(ARCHITECTURES)}."
        )
    if config.widths is not None and (not config.widths or min(config.widths) < 1):
        raise ConfigError(f"--widths must be positive integers. Got {list(config.widths)}.")
    if config.seeds < 1 or config.repeats < 1:
        raise ConfigError("--seeds and --repeats must be at least 1.")


def check_images(data: Dataset) -> None:
    if len(data.input_shape) != 3:
        raise ConfigError(
            f"the cnn architecture needs image data; {data.name} has inputs of shape "
            f"{tuple(data.input_shape)}. Use --dataset digits or mnist, or drop cnn from "
            "--architectures."
        )


# regression sets that may be missing offline, and the bundled one used instead
OFFLINE_FALLBACK = {"california-housing": "diabetes"}


def load_data(config: WidthConfig) -> tuple[Dataset, str]:
    """The dataset with flat x (``Dataset.flattened``; ``as_images`` for the CNN), its
    training split cut to ``train_size`` when asked, and why another dataset than the one
    asked for is used (empty when none)."""
    substitution = ""
    try:
        data = load_dataset(config.dataset, config.data_dir)
    except DataError as exc:
        if config.dataset not in OFFLINE_FALLBACK:
            raise
        fallback = OFFLINE_FALLBACK[config.dataset]
        substitution = (
            f"{config.dataset} is not available offline ({exc}); using {fallback} instead "
            "(bundled with scikit-learn), so these are NOT the paper's housing numbers."
        )
        data = load_dataset(fallback, None)
    data = data.flattened()
    train_x, train_y = data.train_x, data.train_y
    if config.train_size is not None and config.train_size < train_x.shape[0]:
        order = torch.randperm(train_x.shape[0], generator=torch.Generator().manual_seed(0))
        keep = order[: config.train_size].sort().values
        data = replace(data, train_x=train_x[keep], train_y=train_y[keep])
    return data, substitution


def paper_mlp(inputs: int, width: int, middle: int, outputs_: int, seed: int) -> nn.Sequential:
    """y = W3 ReLU(W2 ReLU(W1 x)), no biases, Glorot-normal initialisation."""
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(inputs, width, bias=False),
        nn.ReLU(),
        nn.Linear(width, middle, bias=False),
        nn.ReLU(),
        nn.Linear(middle, outputs_, bias=False),
    )
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, nn.Linear):
                torch.nn.init.xavier_normal_(layer.weight, generator=generator)
    return model


def paper_cnn(image_shape: tuple[int, ...], width: int, outputs_: int, seed: int) -> nn.Sequential:
    """softmax(Wfc ReLU(K2 * ReLU(K1 * x))): 3x3 convolutions with padding 1, no biases,
    Glorot-normal initialisation; K1 has ``width`` filters, K2 16."""
    channels, height, breadth = image_shape
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(width, CNN_MIDDLE_CHANNELS, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(CNN_MIDDLE_CHANNELS * height * breadth, outputs_, bias=False),
    )
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                torch.nn.init.xavier_normal_(layer.weight, generator=generator)
    return model


def build_net(data: Dataset, architecture: str, width: int, seed: int) -> nn.Sequential:
    if architecture == "cnn":
        return paper_cnn(data.input_shape, width, data.num_classes, seed)
    return paper_mlp(data.inputs, width, MIDDLE[architecture], data.num_classes, seed)


def train_net(config: WidthConfig, data: Dataset, model: nn.Sequential, seed: int) -> nn.Sequential:
    """Adam for ``epochs`` passes over the training split, through the one training loop."""
    stream = BatchStream(
        data.train_x, data.train_y, batch_size=config.batch_size, shuffle=True,
        restart_each_cycle=False, seed=seed,
    )  # fmt: skip
    steps = config.epochs * math.ceil(data.train_x.shape[0] / config.batch_size)
    optimizer = make_optimizer(model, config.lr, torch.device("cpu"))
    train_phase(
        model,
        Phase(name="train", max_steps=steps),
        stream=stream,
        optimizer=optimizer,
        criterion=make_criterion(data.kind),
    )
    return model.eval()


def trained_net(config, data, architecture, width, seed, nets: Path):
    """The trained net of (architecture, width, seed), trained once and then reloaded."""
    folder = nets / f"{architecture}-w{width}-s{seed}"
    weights, spec = folder / "model.safetensors", folder / "model.json"
    if weights.is_file() and spec.is_file():
        return load_model(weights, spec)
    model = build_net(data, architecture, width, seed)
    model = train_net(config, data, model, seed)
    folder.mkdir(parents=True, exist_ok=True)
    save_model(model, weights, spec)
    return model


def density_of(model: nn.Module, index: int) -> float:
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    return float((weights[index] != 0).double().mean())


def measure_net(
    config: WidthConfig,
    data: Dataset,
    architecture: str,
    width: int,
    seed: int,
    model: nn.Sequential,
    announce: Callable[[str], None],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every compression of one trained net: rows for results.csv, and the net's record."""
    calibration = data.train_x[: config.calibration_size]
    dense_out = outputs(model, data.test_x, data.kind)
    dense_score = task_score(model, data.test_x, data.test_y, data.kind)
    rows: list[dict[str, Any]] = []
    base = {
        "dataset": config.dataset, "architecture": architecture, "width": width, "seed": seed,
        "dense_score": dense_score,
    }  # fmt: skip
    structured = architecture in STRUCTURED

    constants = scale_constants(model)

    def record(setup, mode, bits, method, repeat, compressed, layer, seconds):
        raw = outputs(compressed, data.test_x, "regression")
        probabilities = raw.softmax(1) if data.kind == "classification" else raw
        error = normalised_error(
            model, compressed, data.test_x, data.kind, dense_outputs=dense_out,
            constants=constants, compressed_outputs=probabilities,
        )  # fmt: skip
        # structured pruning removes hidden units (filters): density is the share left
        if structured:
            dens = compressed[0].weight.shape[0] / width
        else:
            dens = density_of(compressed, layer)
        rows.append(
            {
                **base, "setup": setup, "mode": mode, "bits": bits, "method": method,
                "repeat": repeat, **error,
                "score": task_score(None, data.test_x, data.test_y, data.kind, raw_outputs=raw),
                "density": dens, "seconds": seconds,
            }
        )  # fmt: skip

    density = 1 - config.alpha + config.alpha * config.p
    for setup, layer, role in SETUPS[architecture]:
        sets = {"wide_layers": (layer,), "pair_layers": ()} if role == "wide" else {
            "wide_layers": (), "pair_layers": (layer,)}  # fmt: skip
        greedy = GreedyParams(
            alpha=config.alpha, p=config.p, structured=structured,
            calibration_size=config.calibration_size, rescore_rounds=config.rescore_rounds,
            project_output=config.project_output, **sets,
        )  # fmt: skip
        modes = [("prune", None)] + ([] if structured else [("quant", b) for b in config.bits])
        for mode, bits in modes:
            params = replace(greedy, mode=mode, bits=bits or 4)
            started = time.perf_counter()
            for repeat in range(config.repeats):
                t0 = time.perf_counter()
                result = greedy_compress(model, calibration, replace(params, seed=repeat))
                record(setup, mode, bits, "greedy", repeat, result.model, layer,
                       time.perf_counter() - t0)  # fmt: skip
            announce(
                f"  {architecture} w={width} seed={seed} {setup} {mode}"
                f"{'' if bits is None else f' {bits} bits'}: greedy x{config.repeats} "
                f"{time.perf_counter() - started:.1f} s"
            )
            names = config.prune_baselines if mode == "prune" else config.quant_baselines
            for name in names:
                t0 = time.perf_counter()
                # structured: whole units, rows of a pair layer or columns of a wide one
                layers = {"layers": (layer,)} if not structured or role == "wide" else {
                    "layers": (), "pair_layers": (layer,)}  # fmt: skip
                baseline = BaselineParams(
                    mode=mode, density=density, bits=bits or 4, structured=structured,
                    calibration_size=config.calibration_size, **layers,
                )  # fmt: skip
                out = baseline_compress(model, calibration, name, baseline).model
                if structured:
                    label = STRUCTURED_LABELS[name]
                else:
                    label = {"obs": "sparsegpt" if mode == "prune" else "gptq"}.get(name, name)
                record(setup, mode, bits, label, 0, out, layer, time.perf_counter() - t0)
    net = {
        "architecture": architecture, "width": width, "seed": seed, "dense_score": dense_score,
        **constants,
    }  # fmt: skip
    return rows, net


def run_width_experiment(
    config: WidthConfig,
    out: str | Path,
    announce: Callable[[str], None] = print,
    *,
    threads: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train, compress and measure; resumable. Returns the experiment's record.

    ``threads`` is what ``runtime.configure_threads`` set (recorded): the numbers depend on the
    thread count, since it changes how float reductions are split.
    """
    check_config(config)
    data, substitution = load_data(config)
    if "cnn" in config.architectures:
        check_images(data)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results_path, nets_path = out / "results.csv", out / "nets.csv"
    rows = read_csv(results_path) if results_path.is_file() else []
    nets = read_csv(nets_path) if nets_path.is_file() else []
    done = {(n["architecture"], int(n["width"]), int(n["seed"])) for n in nets}
    note = data_note(data, substitution)
    announce(note)
    record = {
        "experiment": "width-tradeoff",
        "config": asdict(config),
        "widths": {a: list(widths_of(config, a)) for a in config.architectures},
        "data": note,
        "provenance": provenance(),
        "threads": threads,
    }
    atomic_write_json(out / "experiment.json", {**record, "status": "running"})
    for architecture in config.architectures:
        arch_data = data.as_images() if architecture == "cnn" else data
        for width in widths_of(config, architecture):
            for seed in range(config.seeds):
                if (architecture, width, seed) in done:
                    continue
                started = time.perf_counter()
                model = trained_net(config, arch_data, architecture, width, seed, out / "nets")
                new_rows, net = measure_net(
                    config, arch_data, architecture, width, seed, model, announce
                )
                net["seconds"] = time.perf_counter() - started
                rows += new_rows
                nets.append(net)
                atomic_write_csv(results_path, RESULT_COLUMNS, rows)
                atomic_write_csv(nets_path, list(net), nets)
                announce(
                    f"{architecture} width {width} seed {seed}: dense "
                    f"{net['dense_score']:.4f}, c1 {net['c1']:.2f}, c2 {net['c2']:.2f}, "
                    f"{net['seconds']:.0f} s"
                )
    table = summarise(rows)
    columns = list(table[0]) if table else []
    atomic_write_csv(out / "width_table.csv", columns, table)
    atomic_write_text(
        out / "width_table.md",
        render_width_markdown(table, dataset=data.name, kind=data.kind, data_note=note),
    )
    from tomoprune.plots.width import plot_width_figures  # lazy: CLI start-up (matplotlib)

    figures = plot_width_figures(table, out, title=data.name, kind=data.kind)
    record.update({"status": "finished", "figures": [str(f.name) for f in figures]})
    atomic_write_json(out / "experiment.json", record)
    return record


def data_note(data: Dataset, substitution: str = "") -> str:
    prefix = f"NOTE: {substitution} " if substitution else ""
    return prefix + (
        f"{data.name}: {data.train_x.shape[0]} train / {data.test_x.shape[0]} test samples, "
        f"{data.inputs} inputs, {data.kind} ({data.source})"
    )


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and 95 % bands per (architecture, set-up, mode, bits, method, width).

    ``*_lo``/``*_hi``: the 2.5 and 97.5 percentiles over all compressed nets (trained seeds x
    repeats); ``*_ci``: half-width of the 95 % t-interval of the mean over trained seeds
    (each seed's repeats averaged first).
    """
    from scipy import stats

    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        key = (
            row["dataset"], row["architecture"], row["setup"], row["mode"],
            str(row["bits"] or ""), row["method"], int(row["width"]),
        )  # fmt: skip
        groups.setdefault(key, []).append(row)
    table = []
    for key in sorted(groups, key=lambda k: (k[:6], k[6])):
        group = groups[key]
        out: dict[str, Any] = dict(
            zip(("dataset", "architecture", "setup", "mode", "bits", "method", "width"), key,
                strict=True)
        )  # fmt: skip
        out["n"] = len(group)
        for field in ("delta", "score", "output_mse", "density", "dense_score"):
            values = np.array([float(r[field]) for r in group])
            out[f"{field}_mean"] = float(values.mean())
            if field in ("delta", "score"):
                out[f"{field}_lo"] = float(np.percentile(values, 2.5))
                out[f"{field}_hi"] = float(np.percentile(values, 97.5))
                per_seed: dict[str, list[float]] = {}
                for r in group:
                    per_seed.setdefault(str(r["seed"]), []).append(float(r[field]))
                means = np.array([np.mean(v) for v in per_seed.values()])
                if len(means) > 1:
                    half = stats.t.ppf(0.975, len(means) - 1) * means.std(ddof=1)
                    out[f"{field}_ci"] = float(half / math.sqrt(len(means)))
                else:
                    out[f"{field}_ci"] = None
        table.append(out)
    return table
