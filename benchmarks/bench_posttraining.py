"""Post-training compressors against the float64 oracle and the reference implementations.

For each layer (Gaussian W, correlated inputs X = Z A, 2048 calibration samples) and setting,
our compressor (``tomoprune.posttraining``, float32 sweep, one thread) and the oracle (the
papers' equations in float64, ``tomoprune.posttraining.oracle``) run on the same W and
H = X^T X / n. Error = ||(W - W_hat) X||^2 / ||W X||^2 on the calibration set; "agreement" is
the share of identical codes (quantizers) or mask entries (pruners).

Reference times: with ``--reference-dir DIR`` the IST-DASLab code is imported at benchmark time
from ``DIR/gptq/{gptq,quant}.py`` and ``DIR/sparsegpt/{sparsegpt,quant}.py`` (copies of
github.com/IST-DASLab/gptq and /sparsegpt kept outside this repository; their code is not part
of tomoprune) and timed in the same process, interleaved with ours (ours, reference, ours, ...;
same W, same H in float32, one thread), and the time ratio is the median of the per-pair ratios.
Their layer error and agreement with ours are recorded too (RTN: the reference's
``Quantizer.find_params`` + ``quantize``, its ``opt.py --nearest``). Without the flag, or for
settings without reference code here (Wanda, RTN with groups), the reference seconds are the
figures measured on this machine and quoted in ``../shared/reference/posttraining-anchors.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from benchmarks.common import Measurement, measure, write_results
from tomoprune.fileio import atomic_write_text
from tomoprune.posttraining import GPTQ, RTN, SparseGPT, Wanda, oracle
from tomoprune.posttraining.base import LayerContext, LayerProblem
from tomoprune.posttraining.statistics import HessianAccumulator

DOCS_TABLE = Path(__file__).resolve().parents[1] / "docs" / "results" / "posttraining" / "bench.md"

SAMPLES = 2048
LAYERS = {"g1024x1024": (1024, 1024), "dead512x784": (512, 784), "g4096x1024": (4096, 1024)}
# the dead-input layer: 78 of 784 inputs always zero (like MNIST's border pixels), inputs
# scaled by 0.01 (where an unnormalised Hessian let dead weights win mask slots)
DEAD_INPUTS, DEAD_SCALE = 78, 0.01
SETTINGS = {
    "GPTQ 4b gs128 act-order": GPTQ(bits=4, group_size=128, act_order=True),
    "GPTQ 4b per-channel": GPTQ(bits=4),
    "GPTQ 3b per-channel": GPTQ(bits=3),
    "RTN 4b per-channel": RTN(bits=4),
    "SparseGPT 50%": SparseGPT(sparsity=0.5),
    "SparseGPT 2:4": SparseGPT(nm="2:4"),
    "Wanda 50%": Wanda(sparsity=0.5),
    "Wanda 2:4": Wanda(nm="2:4"),
}
# reference seconds (IST-DASLab gptq / sparsegpt, locuslab wanda) from the anchors file:
# rows "act-order + gs=128" 4b, "per-channel asym, gs=-1 (repo default)" 4b and 3b, "RTN 4b
# per-channel asym", "SparseGPT 50% unstructured", "SparseGPT 2:4", "Wanda 50%", "Wanda 2:4"
REFERENCE_SECONDS = {
    "g1024x1024": {
        "GPTQ 4b gs128 act-order": 0.207,
        "GPTQ 4b per-channel": 0.199,
        "GPTQ 3b per-channel": 1.02,
        "RTN 4b per-channel": 0.00303,
        "SparseGPT 50%": 0.864,
        "SparseGPT 2:4": 0.7,
        "Wanda 50%": 0.244,
        "Wanda 2:4": 0.189,
    },
    "dead512x784": {
        "GPTQ 4b gs128 act-order": 0.345,
        "GPTQ 4b per-channel": 0.436,
        "GPTQ 3b per-channel": 0.351,
        "RTN 4b per-channel": 0.00142,
        "SparseGPT 50%": 0.322,
        "SparseGPT 2:4": 0.485,
        "Wanda 50%": 0.096,
        "Wanda 2:4": 0.0504,
    },
    "g4096x1024": {
        "GPTQ 4b gs128 act-order": 0.427,
        "GPTQ 4b per-channel": 0.368,
        "GPTQ 3b per-channel": 0.382,
        "RTN 4b per-channel": 0.0121,
        "SparseGPT 50%": 0.743,
        "SparseGPT 2:4": 0.394,
        "Wanda 50%": 0.262,
        "Wanda 2:4": 0.104,
    },
}


def make_layer(name: str, rows: int, columns: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, columns, generator=g) / columns**0.5
    z = torch.randn(SAMPLES, columns, generator=g)
    a = torch.eye(columns) + torch.randn(columns, columns, generator=g) / columns**0.5
    x = z @ a
    if name.startswith("dead"):
        dead = torch.randperm(columns, generator=g)[:DEAD_INPUTS]
        x = DEAD_SCALE * x
        x[:, dead] = 0
    return w, x


def accumulate(x: torch.Tensor, columns: int) -> HessianAccumulator:
    """H over the samples, added in batches of 256 as the driver does."""
    acc = HessianAccumulator(columns)
    for batch in torch.split(x, 256):
        acc.add(batch)
    return acc


def run_oracle(label: str, settings, w: np.ndarray, h: np.ndarray, x: np.ndarray):
    """(W_hat, codes or kept mask) from the float64 oracle for one setting."""
    if isinstance(settings, GPTQ):
        return oracle.gptq(
            w, h, settings.bits, group_size=settings.group_size, act_order=settings.act_order
        )
    if isinstance(settings, RTN):
        return oracle.rtn(w, settings.bits)
    if isinstance(settings, SparseGPT):
        q, keep = oracle.sparsegpt(w, h, settings.sparsity, nm=settings.nm)
        return q, keep
    keep = oracle.wanda(w, x, settings.sparsity, settings.nm)
    return w * keep, keep


def load_reference(directory: Path) -> dict[str, ModuleType]:
    """The IST-DASLab modules: ``gptq``/``gptq_quant`` and ``sparsegpt``/``sparsegpt_quant``.

    Each repository's algorithm file does ``from quant import *``, so its own quant.py is
    registered as ``quant`` while the file is imported, then unregistered.
    """
    modules: dict[str, ModuleType] = {}
    for package in ("gptq", "sparsegpt"):
        folder = directory / package
        for needed in (folder / f"{package}.py", folder / "quant.py"):
            if not needed.is_file():
                raise SystemExit(f"--reference-dir: {needed} not found (see this script's doc).")
        modules[f"{package}_quant"] = _import("quant", folder / "quant.py")
        try:
            modules[package] = _import(f"reference_{package}", folder / f"{package}.py")
        finally:
            sys.modules.pop("quant", None)
    return modules


def _import(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def quiet_reference() -> Iterator[None]:
    """Silence the reference's progress prints; on CPU, its ``torch.cuda.synchronize()``."""
    synchronize = torch.cuda.synchronize
    if not torch.cuda.is_available():
        torch.cuda.synchronize = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        torch.cuda.synchronize = synchronize


def reference_run(
    settings, modules: dict[str, ModuleType], w: torch.Tensor, h32: torch.Tensor
) -> tuple[torch.nn.Linear, Callable[[], None]] | None:
    """A fresh reference object for ``settings`` and the call to time (None: no reference).

    Only ``fasterquant`` / ``fasterprune`` is timed, as the reference's own timer does; its
    Hessian is ours in float32 (the reference accumulates in float32 too).
    """
    rows, columns = w.shape
    layer = torch.nn.Linear(columns, rows, bias=False)
    layer.weight.data = w  # the reference clones it and assigns a new tensor when done
    if isinstance(settings, GPTQ):
        solver = modules["gptq"].GPTQ(layer)
        solver.H = h32.clone()
        solver.quantizer = modules["gptq_quant"].Quantizer()
        solver.quantizer.configure(
            settings.bits, perchannel=settings.per_channel, sym=settings.grid == "symmetric"
        )
        return layer, lambda: solver.fasterquant(
            blocksize=settings.block_size,
            percdamp=settings.damp,
            groupsize=settings.group_size or -1,
            actorder=settings.act_order,
            static_groups=settings.static_groups,
        )
    if isinstance(settings, RTN) and settings.group_size is None and settings.grid != "span":
        quant = modules["gptq_quant"]

        def nearest() -> None:  # the reference's round-to-nearest (its opt.py --nearest)
            quantizer = quant.Quantizer()
            quantizer.configure(
                settings.bits, perchannel=settings.per_channel, sym=settings.grid == "symmetric"
            )
            quantizer.find_params(w, weight=True)
            layer.weight.data = quant.quantize(w, quantizer.scale, quantizer.zero, quantizer.maxq)

        return layer, nearest
    if isinstance(settings, SparseGPT) and settings.bits is None:
        solver = modules["sparsegpt"].SparseGPT(layer)
        solver.H = h32.clone()
        n, m = settings.nm or (0, 0)
        return layer, lambda: solver.fasterprune(
            0.0 if settings.nm else settings.sparsity,
            prunen=n,
            prunem=m,
            blocksize=settings.block_size,
            percdamp=settings.damp,
        )
    return None


def interleaved(
    ours: Callable[[], object],
    prepare_reference: Callable[[], tuple[torch.nn.Linear, Callable[[], None]]],
    repeats: int,
) -> tuple[list[float], list[float], object, torch.Tensor]:
    """Wall times of ours and the reference, alternating, after one untimed call of each."""
    ours_s: list[float] = []
    reference_s: list[float] = []
    result = ours()
    with quiet_reference():
        layer, call = prepare_reference()
        call()
        for _ in range(repeats):
            started = time.perf_counter()
            result = ours()
            ours_s.append(time.perf_counter() - started)
            layer, call = prepare_reference()
            started = time.perf_counter()
            call()
            reference_s.append(time.perf_counter() - started)
    return ours_s, reference_s, result, layer.weight.data


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_markdown(rows: list[Measurement], paired: bool) -> None:
    """The table of docs/results/posttraining/bench.md, from this run's measurements."""
    source = (
        "the IST-DASLab code timed in this run, interleaved with ours (Wanda: the quoted "
        "figures of ../shared/reference/posttraining-anchors.md)"
        if paired
        else "the IST-DASLab / locuslab code on this machine, quoted from "
        "../shared/reference/posttraining-anchors.md"
    )
    lines = [
        f"Measured by `python -m benchmarks.bench_posttraining {' '.join(sys.argv[1:])}` "
        f"on {cpu_name()} "
        f"({torch.get_num_threads()} thread, machine shared with other jobs: the 1-minute load "
        "average of its 2 cores is in the last column). W Gaussian, "
        f"X = Z A correlated, {SAMPLES} calibration samples, damping 0.01, block 128. Error = "
        "||(W - W_hat) X||^2 / ||W X||^2 on the calibration set. Oracle: the papers' equations "
        "in float64 (`tomoprune.posttraining.oracle`). Reference: " + source + ". "
        "s / reference: the median of the per-pair ratios where both ran interleaved, else our "
        "median over the quoted figure.",
        "",
        "| layer | setting | error | oracle error | ratio | agreement | reference error | "
        "error / reference | agreement with reference | s | reference s | s / reference | "
        "load average |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        e = row.extra
        if "error" not in e:
            reference = e.get("reference_s")
            versus = f"{reference:.3f} | {e['time_vs_reference']:.2f}" if reference else " | "
            lines.append(
                f"| {row.name} | | | | | | | | | {row.median_s:.3f} | {versus} | "
                f"{e.get('load_average', float('nan')):.1f} |"
            )
            continue
        layer, setting = row.name.split(" ", 1)
        if "oracle_error" in e:
            oracle_cells = (
                f"{e['oracle_error']:.4g} | {e['error_ratio']:.4f} | {100 * e['agreement']:.2f} %"
            )
        else:
            oracle_cells = "(not run) | |"
        if "reference_error" in e:
            reference_cells = (
                f"{e['reference_error']:.4g} | {e['error_vs_reference']:.4f} | "
                f"{100 * e['agreement_with_reference']:.2f} %"
            )
        else:
            reference_cells = "(quoted time only) | |"
        lines.append(
            f"| {layer} | {setting} | {e['error']:.4g} | {oracle_cells} | {reference_cells} | "
            f"{row.median_s:.3f} | {e['reference_s']:.3g} | {e['time_vs_reference']:.2f} | "
            f"{e['load_average']:.1f} |"
        )
    DOCS_TABLE.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(DOCS_TABLE, "\n".join(lines) + "\n")


def accumulate_reference(modules: dict[str, ModuleType], x: torch.Tensor, rows: int) -> None:
    """The reference's ``add_batch`` over the same batches of 256 (its H update)."""
    layer = torch.nn.Linear(x.shape[1], rows, bias=False)
    solver = modules["gptq"].GPTQ(layer)
    for batch in torch.split(x, 256):
        solver.add_batch(batch, None)


def agreement_of(ours: np.ndarray, theirs: np.ndarray, pruner: bool) -> float:
    """Share of equal mask entries (pruners) or equal quantized values (quantizers)."""
    if pruner:
        return float(np.mean((ours != 0) == (theirs != 0)))
    return float(np.mean(np.isclose(ours, theirs, rtol=1e-5, atol=1e-7)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--oracle-layers",
        default=",".join(LAYERS),
        help="layers on which the float64 oracle also runs (it takes minutes per setting on "
        "a loaded machine); the others are timed without it",
    )
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated labels")
    parser.add_argument("--layers", default=",".join(LAYERS), help="comma-separated layer names")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (median)")
    parser.add_argument(
        "--reference-dir",
        type=Path,
        help="folder with gptq/{gptq,quant}.py and sparsegpt/{sparsegpt,quant}.py copied from "
        "the IST-DASLab repositories: time them side by side (default: quoted figures)",
    )
    args = parser.parse_args()
    oracle_layers = set(args.oracle_layers.split(",")) if args.oracle_layers else set()
    chosen = [label for label in SETTINGS if label in args.settings.split(",")]
    modules = load_reference(args.reference_dir) if args.reference_dir else None
    torch.set_num_threads(1)
    rows_out: list[Measurement] = []
    for layer in (name for name in LAYERS if name in args.layers.split(",")):
        rows, columns = LAYERS[layer]
        w, x = make_layer(layer, rows, columns)
        hessian_s, acc = measure(
            f"{layer} Hessian (2048 samples in batches of 256)",
            lambda x=x, n=columns: accumulate(x, n),
            repeats=args.repeats,
        )
        extra = {"load_average": os.getloadavg()[0]}
        if modules is not None:
            reference_h = measure(
                "reference",
                lambda x=x, r=rows: accumulate_reference(modules, x, r),
                repeats=args.repeats,
            )[0].median_s
            extra.update(
                reference_s=reference_h, time_vs_reference=hessian_s.median_s / reference_h
            )
        rows_out.append(hessian_s.with_extra(**extra))
        h = acc.hessian
        h32 = h.float()
        problem = LayerProblem(name=layer, weight=w, hessian=h, samples=SAMPLES)
        w64, h64, x64 = w.double().numpy(), h.numpy(), x.double().numpy()
        for label in chosen:
            settings = SETTINGS[label]
            context = LayerContext(rng=np.random.default_rng(0))

            def ours(s=settings, c=context, p=problem):
                return s.compress_layer(p, c)

            pruner = not isinstance(settings, GPTQ | RTN)
            paired = modules is not None and (
                isinstance(settings, GPTQ)
                or (isinstance(settings, SparseGPT) and settings.bits is None)
                or (
                    isinstance(settings, RTN)
                    and settings.group_size is None
                    and settings.grid != "span"
                )
            )
            extra = {}
            if paired:
                assert modules is not None
                ours_s, reference_s, result, theirs = interleaved(
                    ours,
                    lambda s=settings, w=w, h=h32: reference_run(s, modules, w, h),  # type: ignore[misc]
                    args.repeats,
                )
                timed = Measurement(
                    f"{layer} {label}", statistics.median(ours_s), len(ours_s), tuple(ours_s)
                )
                reference = statistics.median(reference_s)
                theirs64 = theirs.double().numpy()
                extra.update(
                    reference_times_s=reference_s,
                    time_vs_reference=statistics.median(
                        a / b for a, b in zip(ours_s, reference_s, strict=True)
                    ),
                    reference_error=oracle.relative_error(w64, theirs64, h64),
                    agreement_with_reference=agreement_of(
                        result.weight.double().numpy(), theirs64, pruner
                    ),
                )
            else:
                timed, result = measure(f"{layer} {label}", ours, repeats=args.repeats)
                reference = REFERENCE_SECONDS[layer][label]
                extra.update(time_vs_reference=timed.median_s / reference)
            mine = result.weight.double().numpy()
            err = oracle.relative_error(w64, mine, h64)
            extra.update(error=err, reference_s=reference, load_average=os.getloadavg()[0])
            if "reference_error" in extra:
                extra["error_vs_reference"] = err / extra["reference_error"]
            if layer in oracle_layers:
                started = time.perf_counter()
                expected, marks = run_oracle(label, settings, w64, h64, x64)
                oracle_s = time.perf_counter() - started
                err_oracle = oracle.relative_error(w64, expected, h64)
                if result.quant is not None:
                    agreement = float(np.mean(result.quant.codes.numpy() == marks))
                else:
                    agreement = float(np.mean((mine != 0) == marks))
                extra.update(
                    oracle_error=err_oracle,
                    error_ratio=err / err_oracle,
                    agreement=agreement,
                    oracle_s=oracle_s,
                )
            rows_out.append(timed.with_extra(**extra))
            print(f"{layer} {label}: {timed.median_s:.3f} s, {extra}", flush=True)
    write_markdown(rows_out, paired=modules is not None)
    write_results(
        "posttraining",
        rows_out,
        description=(
            "Post-training compressors on one layer: error and time of tomoprune's float32 "
            "solvers against a float64 oracle of the papers' equations (same W, same H), and "
            "time against the reference implementations (IST-DASLab gptq / sparsegpt) timed "
            "side by side when --reference-dir is given, else their quoted figures."
        ),
        config={
            "samples": SAMPLES,
            "layers": {k: list(LAYERS[k]) for k in args.layers.split(",") if k in LAYERS},
            "threads": 1,
            "damp": 0.01,
            "block_size": 128,
            "repeats": args.repeats,
            "reference": "timed side by side" if modules is not None else "quoted figures",
        },
        notes=[
            "Times exclude the Hessian accumulation (its own row). Side by side: ours and the "
            "reference alternate (one warm-up each); time_vs_reference is the median of the "
            "per-pair ratios. Quoted: ../shared/reference/posttraining-anchors.md, measured on "
            "this machine on 2026-12-02 while it was shared.",
            "Agreement: share of identical integer codes (GPTQ, RTN) or mask entries "
            "(SparseGPT, Wanda) between the float32 solver and the float64 oracle; with the "
            "reference: equal mask entries, or equal quantized values (relative 1e-5).",
        ],
    )


if __name__ == "__main__":
    main()
