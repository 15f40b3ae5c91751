"""``tomoprune analyze`` and ``tomoprune report``: the Gibbs analysis of recorded runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from tomoprune.analysis.entropy import BASES, BINNINGS, FORMULAS, EntropySettings
from tomoprune.analysis.gibbs import GIBBS_FILE, AnalysisSettings
from tomoprune.errors import ConfigError

REFERENCE_SUBDIR = "reference-runs"


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 5,10,15,20, got {text!r}"
        ) from None


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="run directories to analyse")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="output directory (required, except for `report SWEEP_DIR`: its aggregate folder)",
    )
    p.add_argument(
        "--reference",
        action="store_true",
        help="also convert the authors' recorded run (magnitude, random, dtc) into run "
        f"directories under DIR/{REFERENCE_SUBDIR}/ and analyse them",
    )
    p.add_argument(
        "--reference-path",
        metavar="JSON",
        help="the recorded run (default: $TOMOPRUNE_REFERENCE or ../shared/reference)",
    )
    g = p.add_argument_group("entropy")
    g.add_argument(
        "--binning",
        default="paper",
        choices=BINNINGS.names(),
        help="bin edges: paper (fixed -50..50 step 0.2) or a data-driven rule "
        "(default %(default)s)",
    )
    g.add_argument(
        "--bins", type=int, default=50, help="bins for --binning fixed_count (default 50)"
    )
    g.add_argument(
        "--formula",
        default="paper_epsilon",
        choices=FORMULAS,
        help="paper_epsilon: -sum p log(p + 1e-10) as the paper; exact: -sum p log p "
        "(default %(default)s)",
    )
    g.add_argument(
        "--base-previous",
        default="2",
        choices=sorted(BASES),
        help="log base of the previous-layer entropy (default %(default)s)",
    )
    g.add_argument(
        "--base-next",
        default="e",
        choices=sorted(BASES),
        help="log base of the next-layer entropy (default %(default)s)",
    )
    g = p.add_argument_group("correlation and controls")
    g.add_argument(
        "--method",
        default="pearson",
        choices=("pearson", "spearman"),
        help="correlation coefficient (default %(default)s)",
    )
    g.add_argument("--frac", type=float, default=0.3, help="LOWESS span (paper 0.3)")
    g.add_argument(
        "--raw-accuracy", action="store_true", help="correlate with raw, not LOWESS, accuracy"
    )
    g.add_argument(
        "--permutations",
        type=int,
        default=2000,
        help="shuffles of the permutation test (default %(default)s)",
    )
    g.add_argument("--bootstrap", type=int, default=2000, help="moving-block bootstrap resamples")
    g.add_argument("--block-length", type=int, default=None, help="default round(n ** (1/3))")
    g.add_argument(
        "--confidence",
        type=float,
        default=0.95,
        help="level of the bootstrap interval (default %(default)s)",
    )
    g.add_argument("--null-draws", type=int, default=500, help="null vectors per cycle")
    g.add_argument(
        "--null-scale", type=float, default=None, help="scale of the fixed-scale null model"
    )
    g.add_argument("--partial-degree", type=int, default=1, help="polynomial in sparsity")
    g.add_argument("--alpha", type=float, default=0.05, help="significance level of verdicts")
    g.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the random draws; each run's draws also depend on its own config, so "
        "its numbers do not change with what else is analysed (default %(default)s)",
    )
    g.add_argument(
        "--cross-pairs",
        action="store_true",
        help="also correlate one run's entropy with another run's accuracy (as the paper pairs "
        "the DTC entropy with the random run's accuracy); default: each run with itself",
    )
    g.add_argument(
        "--min-points",
        type=int,
        default=10,
        help="flag correlations over fewer cycles than this (default %(default)s)",
    )
    g = p.add_argument_group("figures")
    g.add_argument(
        "--histogram-cycles",
        type=_int_list,
        default=(5, 10, 15, 20),
        metavar="I,J,...",
        help="0-based cycle positions of the measurement histograms",
    )
    g.add_argument("--zoom-sparsity", type=float, default=0.8, help="start of the close-up")
    g.add_argument("--no-figures", action="store_true", help="skip the PNG figures")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``analyze`` and ``report``."""
    p = subparsers.add_parser(
        "analyze",
        help="Gibbs entropy, correlations, controls, null models and figures of recorded runs",
        description="Writes DIR/gibbs.json (every number with its settings) and DIR/figures/.",
    )
    _add_common(p)
    p.set_defaults(func=run_analyze)
    p = subparsers.add_parser(
        "report",
        help="analyse recorded runs and write DIR/report.md and a self-contained DIR/report.html",
    )
    _add_common(p)
    p.set_defaults(func=run_report)


def settings_from_args(args: argparse.Namespace) -> AnalysisSettings:
    """The AnalysisSettings the command line asks for."""

    def entropy(base: str) -> EntropySettings:
        return EntropySettings(
            binning=args.binning, n_bins=args.bins, base=base, formula=args.formula
        )

    return AnalysisSettings(
        previous_layer=entropy(args.base_previous),
        next_layer=entropy(args.base_next),
        frac=args.frac,
        method=args.method,
        smooth_accuracy=not args.raw_accuracy,
        n_permutations=args.permutations,
        n_bootstrap=args.bootstrap,
        block_length=args.block_length,
        confidence=args.confidence,
        n_null_draws=args.null_draws,
        fixed_null_scale=args.null_scale,
        partial_degree=args.partial_degree,
        alpha=args.alpha,
        seed=args.seed,
        cross_pairs=args.cross_pairs,
        min_points=args.min_points,
        histogram_indices=tuple(args.histogram_cycles),
        zoom_sparsity=args.zoom_sparsity,
        figures=not args.no_figures,
    )


def _run_dirs(args: argparse.Namespace) -> list[Path]:
    from tomoprune.cli.common import output_dir

    output_dir(args.out, create=False)
    dirs = [Path(d) for d in args.run_dirs]
    if args.reference:
        from tomoprune.reproduce.reference_run import reference_run_dirs

        made = reference_run_dirs(Path(args.out) / REFERENCE_SUBDIR, args.reference_path)
        dirs += [made[m] for m in ("magnitude", "random", "dtc")]
    if not dirs:
        raise ConfigError("No run directory given; pass RUN_DIR... or --reference.")
    return dirs


def _print_summary(doc: dict) -> None:
    for c in doc["correlations"]:
        print(f"\n{c['description']}")
        for v in c["verdicts"][1:]:
            print(f"  - {v}")
        print(f"  = {c['verdicts'][0]}")
    for note in doc["notes"]:
        print(f"note: {note}")


def _need_out(args: argparse.Namespace) -> None:
    if not args.out:
        raise ConfigError("--out DIR is required: the folder to write the results into.")


def run_analyze(args: argparse.Namespace) -> int:
    from tomoprune.analysis.gibbs import analyze_runs
    from tomoprune.plots.figures import write_figures

    _need_out(args)
    settings = settings_from_args(args)
    doc = analyze_runs(_run_dirs(args), settings, out_dir=args.out, draw_figures=write_figures)
    _print_summary(doc)
    out = Path(args.out)
    print(
        f"\nwrote {out / GIBBS_FILE} ({len(doc['correlations'])} correlations, "
        f"{len(doc['figures'])} figures in {out / 'figures'})"
    )
    return 0


def run_report(args: argparse.Namespace) -> int:
    from tomoprune.report import write_report
    from tomoprune.reproduce.correlations import DTC_PAPER
    from tomoprune.sweeps.directory import is_sweep_dir

    if len(args.run_dirs) == 1 and is_sweep_dir(Path(args.run_dirs[0])):
        from tomoprune.report.sweep import write_sweep_report
        from tomoprune.reproduce.paper import TABLE1_SPARSITIES, published_points

        paths = write_sweep_report(
            args.run_dirs[0], args.out, published=published_points(), levels=TABLE1_SPARSITIES
        )
        print(f"wrote {paths['markdown']}, {paths['html']} and {paths['summary']}")
        return 0
    _need_out(args)
    settings = settings_from_args(args)
    paths = write_report(
        _run_dirs(args),
        args.out,
        settings,
        reference_path=args.reference_path,
        paper=DTC_PAPER,
    )
    print(f"wrote {paths['markdown']}, {paths['html']} and {paths['gibbs']}")
    return 0
