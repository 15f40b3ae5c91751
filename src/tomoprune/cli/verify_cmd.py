"""``tomoprune verify-results [ROOT]``: recompute the published sweep numbers from the committed
raw records and say whether every one of them follows."""

from __future__ import annotations

import argparse
from pathlib import Path

from tomoprune.errors import RecordError

EXIT_DIFFERENT = 8


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify-results",
        help="recompute the published sweep numbers from the committed raw records",
        description="For every folder under ROOT with a records/ sweep directory: aggregate "
        "the records again and compare the sentences, the comparisons, the Gibbs incremental "
        "test, the summary page and Table 1 over seeds with what is committed.",
    )
    parser.add_argument(
        "root", nargs="?", default="docs/results/sweeps", help="(default docs/results/sweeps)"
    )
    parser.add_argument(
        "--note",
        action="append",
        default=[],
        help="a Markdown note whose '> ' quoted lines must appear in the verified pages "
        "(repeatable)",
    )
    parser.add_argument(
        "--rederived",
        action="append",
        default=[],
        help="a note written by tomoprune.report.rederive from the earlier summaries under "
        "ROOT, checked to still follow from them (repeatable)",
    )
    parser.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from tomoprune.reproduce.verify import verify_all

    root = Path(args.root)
    if not root.is_dir():
        raise RecordError(f"{root}: not a directory; pass the folder holding the results.")
    results = verify_all(
        root, tuple(Path(n) for n in args.note), tuple(Path(n) for n in args.rederived)
    )
    if not results:
        raise RecordError(f"{root}: no results folder with committed records/ to verify.")
    bad = 0
    for r in results:
        if r.ok:
            print(f"{r.folder}: {len(r.checked)} items recomputed from the records, all equal")
        else:
            bad += 1
            print(f"{r.folder}: {len(r.differences)} difference(s):")
            for d in r.differences[:20]:
                print(f"  {d}")
    return EXIT_DIFFERENT if bad else 0
