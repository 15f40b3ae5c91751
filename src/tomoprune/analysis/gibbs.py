"""The Gibbs randomness-compression analysis of one or more runs, end to end.

``analyze_runs`` reads run directories, computes per cycle the Gibbs entropy of both measurement
vectors, the weight-ray statistics and LOWESS-smoothed accuracy, correlates every entropy series
(runs with measurements) with every run's accuracy, runs the controls and the size-only null
models, and writes ``gibbs.json`` (every number with the settings used) plus the figures.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tomoprune import __version__
from tomoprune.analysis import verdicts
from tomoprune.analysis.correlation import (
    METHODS,
    CorrelationResult,
    block_bootstrap_ci,
    correlate,
    difference_correlation,
    partial_correlation,
    permutation_pvalue,
)
from tomoprune.analysis.entropy import EntropyResult, EntropySettings, entropy_series, values_of
from tomoprune.analysis.nullmodels import NULL_KINDS, NullModelResult, null_correlation, size_null
from tomoprune.analysis.rays import RayStats, ray_statistics
from tomoprune.analysis.runs import MEASUREMENT_LAYERS, RunRecords, config_summary, load_runs
from tomoprune.analysis.smoothing import DEFAULT_FRAC, lowess
from tomoprune.errors import ConfigError
from tomoprune.fileio import atomic_write_json

GIBBS_FILE = "gibbs.json"
FIGURES_DIR = "figures"
LAYER_LABELS = {"previous_layer": "previous-layer", "next_layer": "next-layer"}
SPARSITY_TOLERANCE = 1e-9


@dataclass(frozen=True, kw_only=True)
class AnalysisSettings:
    """Every choice the analysis makes; the defaults reproduce the paper's computation.

    Attributes
    ----------
    previous_layer, next_layer : EntropySettings
        Entropy of each measurement vector (paper: fixed bins, epsilon formula; log2 for the
        previous layer and ln for the next, as in its figures).
    frac : float
        LOWESS span for accuracy (paper 0.3).
    method : {"pearson", "spearman"}
        Correlation the controls are run on (both are always reported).
    smooth_accuracy : bool
        Correlate entropy with LOWESS-smoothed accuracy (as the paper) rather than raw.
    n_permutations, n_bootstrap, n_null_draws : int
        Resamples of the permutation test, moving-block bootstrap and null models.
    block_length : int or None
        Bootstrap block length (None: ``round(n ** (1/3))``, at least 2).
    confidence : float
        Bootstrap interval level.
    null_quantiles : (float, float)
        Quantile band of the null models.
    fixed_null_scale : float or None
        Scale of the fixed-scale null (None: RMS of all observed values of the layer).
    partial_degree : int
        Degree of the polynomial in sparsity removed by the partial correlation.
    alpha : float
        Significance level the verdicts use.
    seed : int
        Seed of every random draw (permutations, bootstrap, nulls). Each run's draws come from
        this seed and the run's own identity (its recorded config), so a run's numbers do not
        change when other runs are analysed beside it.
    cross_pairs : bool
        Also correlate one run's entropy with another run's accuracy (the paper pairs the DTC
        run's entropy with the random run's accuracy); by default each run only with itself.
    min_points : int
        Correlations over fewer cycles than this are flagged as too short to mean much.
    histogram_indices : tuple of int
        0-based positions (in the DTC run's cycle list) of the measurement histograms; the
        paper's figure uses 5, 10, 15 and 20.
    zoom_sparsity : float
        Lower sparsity of the close-up accuracy figure.
    figures : bool
        Draw the figures.
    """

    previous_layer: EntropySettings = EntropySettings(base="2")
    next_layer: EntropySettings = EntropySettings(base="e")
    frac: float = DEFAULT_FRAC
    method: str = "pearson"
    smooth_accuracy: bool = True
    n_permutations: int = 2000
    n_bootstrap: int = 2000
    block_length: int | None = None
    confidence: float = 0.95
    n_null_draws: int = 500
    null_quantiles: tuple[float, float] = (0.05, 0.95)
    fixed_null_scale: float | None = None
    partial_degree: int = 1
    alpha: float = 0.05
    seed: int = 0
    cross_pairs: bool = False
    min_points: int = 10
    histogram_indices: tuple[int, ...] = (5, 10, 15, 20)
    zoom_sparsity: float = 0.8
    figures: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(
                f"The 'method' analysis setting must be one of {list(METHODS)}. Got {self.method!r}."
            )
        if not 0.0 < self.frac <= 1.0:
            raise ConfigError(f"The 'frac' LOWESS setting must be in (0, 1]. Got {self.frac}.")
        for name in ("n_permutations", "n_bootstrap", "n_null_draws"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"The {name!r} analysis setting must be at least 1. Got "
                    f"{getattr(self, name)} instead."
                )
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(
                f"The 'alpha' significance level must be in (0, 1). Got {self.alpha} instead."
            )
        if self.block_length is not None and self.block_length < 1:
            raise ConfigError(
                f"The 'block_length' bootstrap setting must be at least 1. Got "
                f"{self.block_length} instead."
            )
        if self.partial_degree < 0:
            raise ConfigError(
                f"The 'partial_degree' setting must be 0 or more. Got {self.partial_degree} "
                "instead."
            )

    def entropy(self, layer: str) -> EntropySettings:
        return self.previous_layer if layer == "previous_layer" else self.next_layer

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class RunAnalysis:
    """Per-cycle quantities of one run, aligned with its cycles.csv rows."""

    run: RunRecords
    accuracy_lowess: np.ndarray
    entropy: dict[str, list[EntropyResult]] | None
    rays: list[RayStats | None] | None


@dataclass(frozen=True, kw_only=True)
class EntropyAccuracyPair:
    """An entropy series of one run and the accuracy of another, on their common cycles."""

    entropy_run: str
    accuracy_run: str
    layer: str
    cycles: np.ndarray
    sparsity: np.ndarray
    entropy: np.ndarray  # NaN where undefined or where the runs' sparsities differ
    accuracy: np.ndarray  # raw
    entropy_rows: np.ndarray  # row index of each common cycle in the entropy run
    mismatched_cycles: tuple[int, ...]


@dataclass(kw_only=True)
class Analysis:
    """Everything computed, as Python objects (``to_json`` gives the gibbs.json document)."""

    settings: AnalysisSettings
    runs: list[RunAnalysis]
    nulls: dict[tuple[str, str, str], NullModelResult] = field(default_factory=dict)
    correlations: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)


def analyze_run(run: RunRecords, settings: AnalysisSettings) -> RunAnalysis:
    """LOWESS accuracy, entropy of both layers and ray statistics of one run."""
    acc = lowess(run.sparsity, run.test_accuracy, settings.frac)
    if run.measurements is None:
        return RunAnalysis(run=run, accuracy_lowess=acc, entropy=None, rays=None)
    rows = run.measurement_rows()
    entropy = {
        layer: entropy_series(
            [None if m is None else m.measurements[layer] for m in rows], settings.entropy(layer)
        )
        for layer in MEASUREMENT_LAYERS
    }
    rays = [None if m is None else ray_statistics(m.cycle, m.scores, m.coefficients) for m in rows]
    return RunAnalysis(run=run, accuracy_lowess=acc, entropy=entropy, rays=rays)


def entropy_accuracy_pair(
    entropy_run: RunAnalysis, accuracy_run: RunRecords, layer: str
) -> EntropyAccuracyPair:
    """Pair one run's entropy series with another's accuracy on the cycles both recorded.

    Cycles are matched by number; a cycle whose sparsity differs between the two runs is
    dropped (its entropy set undefined), since the series would not describe the same network
    size.
    """
    if entropy_run.entropy is None:
        raise ValueError(f"{entropy_run.run.name} has no entropy series")
    e_cycles = entropy_run.run.cycle
    a_cycles = accuracy_run.cycle
    common, e_rows, a_rows = np.intersect1d(e_cycles, a_cycles, return_indices=True)
    entropy = values_of(entropy_run.entropy[layer])[e_rows]
    s_e = entropy_run.run.sparsity[e_rows]
    s_a = accuracy_run.sparsity[a_rows]
    differ = np.abs(s_e - s_a) > SPARSITY_TOLERANCE
    differ &= np.isfinite(s_e) & np.isfinite(s_a)
    entropy = np.where(differ, np.nan, entropy)
    return EntropyAccuracyPair(
        entropy_run=entropy_run.run.name,
        accuracy_run=accuracy_run.name,
        layer=layer,
        cycles=common,
        sparsity=s_a,
        entropy=entropy,
        accuracy=accuracy_run.test_accuracy[a_rows],
        entropy_rows=e_rows,
        mismatched_cycles=tuple(int(c) for c in common[differ]),
    )


def pair_correlation(
    pair: EntropyAccuracyPair, *, method: str, smooth_accuracy: bool, frac: float
) -> CorrelationResult:
    """Correlation of a pair, accuracy optionally LOWESS-smoothed against sparsity."""
    return correlate(
        pair.entropy,
        pair.accuracy,
        method=method,
        cycles=pair.cycles,
        x=pair.sparsity,
        smooth_b=smooth_accuracy,
        frac=frac,
    )


def _null_models(
    ra: RunAnalysis, settings: AnalysisSettings, rng: np.random.Generator
) -> dict[str, NullModelResult]:
    rows = ra.run.measurement_rows()
    out = {}
    for layer in MEASUREMENT_LAYERS:
        vectors = [None if m is None else m.measurements[layer] for m in rows]
        for kind in NULL_KINDS:
            out[f"{layer}/{kind}"] = size_null(
                vectors,
                settings=settings.entropy(layer),
                kind=kind,
                n_draws=settings.n_null_draws,
                rng=rng,
                cycles=ra.run.cycle,
                fixed_scale=settings.fixed_null_scale,
                quantiles=settings.null_quantiles,
            )
    return out


def _pair_entry(
    ra_e: RunAnalysis,
    run_a: RunRecords,
    layer: str,
    nulls: dict[tuple[str, str, str], NullModelResult],
    settings: AnalysisSettings,
    rng: np.random.Generator,
) -> dict[str, Any]:
    pair = entropy_accuracy_pair(ra_e, run_a, layer)
    ent = settings.entropy(layer)
    correlations = {
        f"{m}_{'smoothed' if smooth else 'raw'}": pair_correlation(
            pair, method=m, smooth_accuracy=smooth, frac=settings.frac
        ).to_dict()
        for m in METHODS
        for smooth in (False, True)
    }
    primary_key = f"{settings.method}_{'smoothed' if settings.smooth_accuracy else 'raw'}"
    primary = pair_correlation(
        pair, method=settings.method, smooth_accuracy=settings.smooth_accuracy, frac=settings.frac
    )
    # the series the primary correlation used, restricted to the cycles where both are defined
    acc = (
        lowess(pair.sparsity, pair.accuracy, settings.frac)
        if settings.smooth_accuracy
        else pair.accuracy
    )
    keep = np.isfinite(pair.entropy) & np.isfinite(acc)
    e_used, a_used = pair.entropy[keep], acc[keep]
    raw_keep = np.isfinite(pair.entropy) & np.isfinite(pair.accuracy)

    perm = permutation_pvalue(
        e_used, a_used, method=settings.method, n_resamples=settings.n_permutations, rng=rng
    )
    boot = block_bootstrap_ci(
        e_used,
        a_used,
        method=settings.method,
        n_resamples=settings.n_bootstrap,
        block_length=settings.block_length,
        confidence=settings.confidence,
        rng=rng,
    )
    diffs = difference_correlation(
        pair.entropy[raw_keep],
        pair.accuracy[raw_keep],
        method=settings.method,
        cycles=pair.cycles[raw_keep],
    )
    partial = partial_correlation(
        e_used, a_used, pair.sparsity[keep], degree=settings.partial_degree
    )
    n_rows = ra_e.run.cycle.size
    acc_on_rows = np.full(n_rows, np.nan)
    acc_on_rows[pair.entropy_rows] = acc
    use = np.zeros(n_rows, dtype=bool)
    use[pair.entropy_rows[keep]] = True
    null_entries: dict[str, Any] = {}
    for kind in NULL_KINDS:
        nc = null_correlation(
            nulls[(ra_e.run.name, layer, kind)], acc_on_rows, use=use, method=settings.method
        )
        null_entries[kind] = {
            **nc.to_dict(),
            "verdict": verdicts.null_verdict(nc, primary.r, kind.replace("_", " ") + " Gaussian"),
        }

    what = (
        f"{LAYER_LABELS[layer]} entropy of {pair.entropy_run} (log base {ent.base}) vs "
        f"{'LOWESS-smoothed' if settings.smooth_accuracy else 'raw'} accuracy of {pair.accuracy_run}"
    )
    controls = {
        "permutation": {
            **perm.to_dict(),
            "verdict": verdicts.permutation_verdict(perm, settings.alpha),
        },
        "block_bootstrap": {**boot.to_dict(), "verdict": verdicts.bootstrap_verdict(boot)},
        "differences": {
            **diffs.to_dict(),
            "series": "raw entropy and raw accuracy (smoothing would reintroduce the trend)",
            "verdict": verdicts.differences_verdict(diffs, primary.r, settings.alpha),
        },
        "partial_given_sparsity": {
            **partial.to_dict(),
            "verdict": verdicts.partial_verdict(partial, settings.alpha),
        },
        "size_null": null_entries,
    }
    summary = [verdicts.headline(primary, what)]
    short = primary.n_used < settings.min_points
    if short:
        summary[0] += (
            f" Only {primary.n_used} cycles (fewer than {settings.min_points}): too few points "
            "for this correlation or its interval to mean much."
        )
    summary += [
        controls[k]["verdict"]
        for k in ("permutation", "block_bootstrap", "differences", "partial_given_sparsity")
    ]
    summary += [null_entries[k]["verdict"] for k in NULL_KINDS]
    return {
        "entropy_run": pair.entropy_run,
        "layer": layer,
        "entropy_log_base": ent.base,
        "accuracy_run": pair.accuracy_run,
        "accuracy_method": run_a.method,
        "description": what,
        "n_common_cycles": int(pair.cycles.size),
        "too_few_points": short,
        "sparsity_mismatch_cycles": list(pair.mismatched_cycles),
        "correlations": correlations,
        "primary": primary_key,
        "controls": controls,
        "verdicts": summary,
    }


def _capabilities(ra: RunAnalysis) -> tuple[list[str], list[str]]:
    can = ["accuracy curve and its LOWESS fit"]
    cannot: list[str] = []
    if ra.entropy is None:
        cannot += [
            "Gibbs entropy",
            "weight rays",
            "size-only null models",
            "measurement histograms",
        ]
        can.append("correlation of its accuracy with another run's entropy")
        return can, cannot
    for layer, results in ra.entropy.items():
        bad = [(int(c), r) for c, r in zip(ra.run.cycle, results, strict=True) if r.value is None]
        can.append(
            f"{LAYER_LABELS[layer]} entropy at {len(results) - len(bad)} of {len(results)} cycles"
        )
        reasons: dict[str, list[int]] = {}
        for c, r in bad:
            reasons.setdefault(str(r.undefined_reason), []).append(c)
        cannot += [
            f"{LAYER_LABELS[layer]} entropy at cycle(s) {cycles}: {reason}"
            for reason, cycles in reasons.items()
        ]
    rays = ra.rays or []
    if any(r is not None and r.mean_abs_over_len is not None for r in rays):
        can.append("weight rays (mean |score| / len)")
    else:
        cannot.append("weight rays (no scores recorded)")
    has_coef = any(
        r is not None and any(v is not None for v in r.coefficients.values()) for r in rays
    )
    (can if has_coef else cannot).append("zero share and norms of the coefficient vectors")
    return can, cannot


def _run_entry(ra: RunAnalysis) -> dict[str, Any]:
    run = ra.run
    can, cannot = _capabilities(ra)
    width = run.width
    cycles = []
    for i, c in enumerate(run.cycle):
        cycles.append(
            {
                "cycle": int(c),
                "width": None if width is None else width[i],
                "sparsity": run.sparsity[i],
                "test_accuracy": run.test_accuracy[i],
                "accuracy_lowess": ra.accuracy_lowess[i],
                "entropy": None
                if ra.entropy is None
                else {layer: ra.entropy[layer][i].to_dict() for layer in ra.entropy},
                "rays": None if ra.rays is None or ra.rays[i] is None else ra.rays[i].to_dict(),
            }
        )
    return {
        "name": run.name,
        "path": None if run.path is None else str(run.path),
        "method": run.method,
        "config": config_summary(run.config),
        "n_cycles": int(run.cycle.size),
        "has_measurements": run.measurements is not None,
        "can_compute": can,
        "cannot_compute": cannot,
        "notes": list(run.notes),
        "cycles": cycles,
    }


def analyze_records(runs: Sequence[RunRecords], settings: AnalysisSettings) -> Analysis:
    """Compute everything for runs already read (see ``analyze_runs``)."""
    analyses = [analyze_run(r, settings) for r in runs]
    result = Analysis(settings=settings, runs=analyses)
    sources = [ra for ra in analyses if ra.entropy is not None]
    if not sources:
        result.notes.append(
            "None of the runs recorded measurement vectors (only DTC runs do), so no Gibbs "
            "entropy, correlation, control or null model can be computed; accuracy curves are "
            "still drawn."
        )
    for ra in sources:
        rng = _rng(settings.seed, ra.run, "nulls")
        for key, null in _null_models(ra, settings, rng).items():
            layer, kind = key.split("/")
            result.nulls[(ra.run.name, layer, kind)] = null
    for ra in sources:
        for layer in MEASUREMENT_LAYERS:
            for run_a in runs:
                if run_a is not ra.run and not settings.cross_pairs:
                    continue
                rng = _rng(settings.seed, ra.run, layer, run_a)
                result.correlations.append(
                    _pair_entry(ra, run_a, layer, result.nulls, settings, rng)
                )
    return result


def run_identity(run: RunRecords) -> int:
    """A stable number from what the run is (its resolved settings and seeds), not where it sits
    in a list, what its directory is called or which machine ran it."""
    config = run.config
    what = {
        "method": run.method,
        "settings": config.get("config"),
        "seeds": config.get("seeds"),
        "source": config.get("source"),
    }
    if what["settings"] is None:  # records of another layout: all but status and provenance
        what["settings"] = {k: v for k, v in config.items() if k not in ("status", "provenance")}
    text = json.dumps(what, sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _rng(seed: int, run: RunRecords, purpose: str, other: RunRecords | None = None):
    """The generator of one run's (or one pair's) draws: the analysis seed, the run's identity
    and what the draws are for."""
    words = [seed, run_identity(run), int.from_bytes(purpose.encode(), "big") % (1 << 63)]
    if other is not None:
        words.append(run_identity(other))
    return np.random.default_rng(np.random.SeedSequence(words))


def plain(value: Any) -> Any:
    """JSON-ready copy: numpy to Python, tuples to lists, NaN and inf to None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(analysis: Analysis) -> dict[str, Any]:
    """The gibbs.json document (numbers with the settings that produced them)."""
    nulls = [
        {
            "run": run,
            "layer": layer,
            "kind": kind,
            "n_draws": null.draws.shape[1],
            "quantiles": list(null.quantiles),
            "per_cycle": null.per_cycle(),
        }
        for (run, layer, kind), null in analysis.nulls.items()
    ]
    all_notes = list(analysis.notes)
    for ra in analysis.runs:
        all_notes += [f"{ra.run.name}: {n}" for n in ra.run.notes]
    return plain(
        {
            "tomoprune_version": __version__,
            "settings": analysis.settings.to_dict(),
            "runs": [_run_entry(ra) for ra in analysis.runs],
            "correlations": analysis.correlations,
            "null_models": nulls,
            "figures": list(analysis.figures),
            "notes": all_notes,
            "verdicts": [v for c in analysis.correlations for v in c["verdicts"]],
        }
    )


def analyze_runs(
    run_dirs: Sequence[str | os.PathLike[str]],
    settings: AnalysisSettings | None = None,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    draw_figures: Callable[..., list[str]] | None = None,
) -> dict[str, Any]:
    """Analyse run directories; with ``out_dir``, write ``gibbs.json`` and ``figures/*.png``.

    The figures are drawn by ``draw_figures`` (``tomoprune.plots.figures.write_figures``,
    passed by the report and the CLI: plots sit above the analysis), when
    ``settings.figures`` asks for them.

    Parameters
    ----------
    run_dirs : sequence of path
        Run directories written by ``tomoprune run`` (or ``reference_run_dirs``).
    settings : AnalysisSettings, optional
        Defaults reproduce the paper's computation.
    out_dir : path, optional
        Output directory.
    draw_figures : callable, optional
        ``draw_figures(analysis, fig_dir, relative_to=out_dir)`` -> figure paths.

    Returns
    -------
    dict
        The gibbs.json document.

    Raises
    ------
    RecordError
        When a path is not a run directory.
    """
    settings = settings or AnalysisSettings()
    if not run_dirs:
        raise ConfigError("No run directory given; pass at least one RUN_DIR.")
    analysis = analyze_records(load_runs(list(run_dirs)), settings)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if settings.figures and draw_figures is not None:
            analysis.figures = draw_figures(analysis, out / FIGURES_DIR, relative_to=out)
        doc = to_json(analysis)
        atomic_write_json(out / GIBBS_FILE, doc)
        return doc
    return to_json(analysis)
