"""Recompute the published sweep numbers from the committed raw records.

A results folder ``docs/results/sweeps/<name>/`` whose claims can be checked holds::

    records/                 a sweep directory: sweep.json, runs/<run>/{config,summary}.json and
                             cycles.csv, aggregate/ (its CSVs and summary.json, gibbs_series.csv)
    summary.md               the page the docs show (written from records/aggregate)
    table1/table1.md         (seed sweeps at the reference profile) Table 1 over the seeds

``verify_folder`` copies ``records/`` to a scratch directory, aggregates it again from the runs'
``cycles.csv`` and the committed per-cycle Gibbs series (the measurement vectors are not
committed), and compares every sentence, every number of the primary, secondary and incremental
comparisons and the whole ``summary.md`` page with what is committed; for Table 1 it rebuilds the
45 cells and the inside-count. Any difference is reported; none means every quoted number
follows from the records.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tomoprune.fileio import read_json
from tomoprune.report.rederive import rederive_page, table1_page
from tomoprune.reproduce.paper import METHODS
from tomoprune.reproduce.table1 import write_table1
from tomoprune.sweeps.aggregate import aggregate_sweep, summary_markdown

RECORDS_DIR = "records"
PAGE = "summary.md"
TABLE1_DIR = "table1"
COMPARED_KEYS = (
    "sentences",
    "gibbs_sentences",
    "pooled_comparisons",
    "secondary_comparisons",
    "gibbs_incremental",
    "gibbs_pooled",
    "seeds",
    "n_runs_finished",
)
TOLERANCE = 1e-9


@dataclass
class Verification:
    folder: Path
    checked: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def _differ(a: Any, b: Any, where: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            _differ(a.get(key), b.get(key), f"{where}.{key}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{where}: {len(a)} entries recomputed, {len(b)} committed")
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _differ(x, y, f"{where}[{i}]", out)
    elif isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        if not math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
            out.append(f"{where}: recomputed {a!r}, committed {b!r}")
    elif a != b:
        out.append(f"{where}: recomputed {a!r}, committed {b!r}")


def recomputable(folder: Path) -> bool:
    """Whether ``folder`` holds committed raw records."""
    return (folder / RECORDS_DIR / "sweep.json").is_file()


def verify_folder(folder: str | Path) -> Verification:
    """Re-aggregate ``folder/records`` in a scratch copy and compare with what is committed."""
    folder = Path(folder)
    result = Verification(folder)
    records = folder / RECORDS_DIR
    committed = read_json(records / "aggregate" / "summary.json")
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "sweep"
        shutil.copytree(records, copy)
        for name in ("summary.json", "summary.md", "comparisons.csv", "accuracy.csv"):
            (copy / "aggregate" / name).unlink(missing_ok=True)
        summary = aggregate_sweep(copy, figures=False, gibbs=False)
    for key in COMPARED_KEYS:
        _differ(summary.get(key), committed.get(key), key, result.differences)
        result.checked.append(key)
    page = folder / PAGE
    if page.is_file():
        summary["figures"] = committed.get("figures", [])
        if summary_markdown(summary) != page.read_text(encoding="utf-8"):
            result.differences.append(f"{page}: differs from the page rebuilt from the records")
        result.checked.append(str(page))
    table = folder / TABLE1_DIR / "table1.md"
    if table.is_file():
        _verify_table1(records, folder / TABLE1_DIR, result)
    return result


def table1_from_records(records: Path, out_dir: Path) -> dict[str, Any]:
    """Table 1 over the seeds of a reference-profile seed sweep (seed 0 is the published
    run's seeds): ``table1.csv``, ``table1.md`` and the checks into ``out_dir``."""
    sweep = read_json(records / "sweep.json")
    seed_dirs: dict[str, dict[int, Path]] = {m: {} for m in METHODS}
    for entry in sweep["runs"]:
        path = records / "runs" / entry["name"]
        if entry["method"] in seed_dirs and (path / "cycles.csv").is_file():
            seed_dirs[entry["method"]][int(entry["seed"])] = path
    run_dirs = {m: dirs[0] for m, dirs in seed_dirs.items() if 0 in dirs}
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_table1(out_dir, run_dirs, seed_dirs=seed_dirs)


def _verify_table1(records: Path, committed: Path, result: Verification) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        table1_from_records(records, out)
        for name in ("table1.md", "table1.csv"):
            if (out / name).read_text(encoding="utf-8") != (committed / name).read_text(
                encoding="utf-8"
            ):
                result.differences.append(f"{committed / name}: differs from the records")
            result.checked.append(str(committed / name))


def verify_quotes(note: Path, pages: list[Path]) -> Verification:
    """Every line of ``note`` quoted as ``> text`` must appear word for word in one of the
    verified ``pages`` (so a number quoted in the docs is one the records reproduce)."""
    result = Verification(note)
    texts = [p.read_text(encoding="utf-8") for p in pages if p.is_file()]
    for line in note.read_text(encoding="utf-8").splitlines():
        if line.startswith("> ") and line[2:].strip():
            quote = line[2:].strip()
            result.checked.append(quote[:60])
            if not any(quote in text for text in texts):
                result.differences.append(f"quoted but not in any verified page: {quote[:120]}")
    return result


def verify_all(
    root: str | Path, notes: tuple[Path, ...] = (), rederived: tuple[Path, ...] = ()
) -> list[Verification]:
    """Every results folder under ``root`` that holds committed records, then the quotes of
    each note in ``notes`` against those folders' pages, then each ``rederived`` note against
    the earlier summaries under ``root``."""
    root = Path(root)
    folders = [f for f in sorted(root.iterdir()) if f.is_dir() and recomputable(f)]
    results = [verify_folder(f) for f in folders]
    pages = [f / PAGE for f in folders] + [f / TABLE1_DIR / "table1.md" for f in folders]
    results += [verify_quotes(Path(n), pages) for n in notes if Path(n).is_file()]
    results += [verify_rederived(Path(n), root) for n in rederived if Path(n).is_file()]
    return results


def verify_rederived(note: Path, root: Path) -> Verification:
    """A note written by ``tomoprune.report.rederive`` (its ``### <folder> (family of`` headings
    name the summaries it read, in order; ``## Table 1 over N seeds`` the Table 1 page) must
    still follow from those committed summaries."""
    import re

    result = Verification(note)
    text = note.read_text(encoding="utf-8")
    names = re.findall(r"^### (\S+) \(family of", text, flags=re.MULTILINE)
    if names:
        result.checked.append(f"paired t, Holm and TOST of {', '.join(names)}")
        if rederive_page([root / n for n in names]) not in text:
            result.differences.append(f"{note}: the comparisons no longer follow from {names}")
    table = re.search(r"^## Table 1 over (\d+) seeds", text, flags=re.MULTILINE)
    if table:
        result.checked.append("Table 1 prediction-interval count")
        page = (root / "table1-10-seeds.md").read_text(encoding="utf-8")
        if table1_page(page, int(table[1])) not in text:
            result.differences.append(f"{note}: the Table 1 count no longer follows")
    return result
