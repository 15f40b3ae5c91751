"""Corrected inferences for sweep summaries committed before the raw records were kept.

The earlier summaries (``docs/results/sweeps/<name>/summary.md``, written by the percentile
bootstrap / Wilcoxon aggregate) print, per setting and pair, the mean paired difference above
85 % sparsity and its 95 % t interval over ``n`` seeds. Those three numbers determine the paired
t-test and the TOST exactly (up to the printed digits: two decimals of a point), so the primary
inference of ``tomoprune.statistics`` can be re-derived without re-running: the paired t p, its
Holm adjustment over the sweep's family (every row of the table) and the equivalence verdict
against the declared margin. ``rederive_page`` writes that as a Markdown section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tomoprune.statistics import holm
from tomoprune.statistics.equivalence import tost_from_summary
from tomoprune.statistics.tests import smallest_signed_rank_p, t_test_from_interval

_ROW = re.compile(
    r"^\| (?P<setting>[^|]+) \| (?P<a>[\w.-]+) - (?P<b>[\w.-]+) \| (?P<n>\d+) \| "
    r"(?P<mean>[+-][\d.]+) \| \[[^]]+\] \| \[(?P<low>[+-][\d.]+), (?P<high>[+-][\d.]+)\] \| "
    r"(?P<wilcoxon>[\d.]+|-) \| (?P<wins>\d+)/\d+ \|$"
)


@dataclass(frozen=True)
class Rederived:
    setting: str
    a: str
    b: str
    n: int
    mean: float  # accuracy (not points)
    low: float
    high: float
    wilcoxon_p: float | None
    wins: int
    sd: float
    p: float
    p_holm: float
    tost_p: float
    equivalent: bool
    smallest_margin: float


def parse_rows(text: str) -> list[dict]:
    """The paired-difference rows of an earlier summary page (points turned into accuracy)."""
    rows = []
    for line in text.splitlines():
        m = _ROW.match(line.strip())
        if m:
            rows.append(
                {
                    "setting": m["setting"].strip(),
                    "a": m["a"],
                    "b": m["b"],
                    "n": int(m["n"]),
                    "mean": float(m["mean"]) / 100,
                    "low": float(m["low"]) / 100,
                    "high": float(m["high"]) / 100,
                    "wilcoxon_p": None if m["wilcoxon"] == "-" else float(m["wilcoxon"]),
                    "wins": int(m["wins"]),
                }
            )
    return rows


def rederive(text: str, margin: float = 0.005, alpha: float = 0.05) -> list[Rederived]:
    """Paired t, Holm over all rows of the page, and TOST, from the printed intervals."""
    rows = parse_rows(text)
    derived = [t_test_from_interval(r["mean"], r["low"], r["high"], r["n"]) for r in rows]
    adjusted = holm([p for _, p in derived])
    out = []
    for r, (sd, p), p_holm in zip(rows, derived, adjusted, strict=True):
        e = tost_from_summary(r["mean"], sd, r["n"], margin, alpha)
        out.append(
            Rederived(
                **r,
                sd=sd,
                p=p,
                p_holm=p_holm,
                tost_p=e.p,
                equivalent=e.equivalent,
                smallest_margin=e.smallest_margin,
            )
        )
    return out


def verdict(r: Rederived, alpha: float = 0.05, margin: float = 0.005) -> str:
    if r.p_holm < alpha:
        return f"{r.a} {'better' if r.mean > 0 else 'worse'} than {r.b}"
    if r.equivalent:
        return f"equivalent within +-{100 * margin:.2f}"
    return (
        f"neither shown (equivalence only within +-{100 * r.smallest_margin:.2f}; "
        f"smallest rank-test p at n = {r.n}: {smallest_signed_rank_p(r.n):.3g})"
    )


def rederive_page(folders: list[Path], margin: float = 0.005, alpha: float = 0.05) -> str:
    """A Markdown section per earlier summary: every comparison with its corrected inference."""
    lines = []
    for folder in folders:
        rows = rederive((folder / "summary.md").read_text(encoding="utf-8"), margin, alpha)
        if not rows:
            continue
        lines += [
            f"### {folder.name} (family of {len(rows)}, from `{folder / 'summary.md'}`)",
            "",
            "| setting | A - B | n | mean (points) | 95 % t CI | old Wilcoxon p | paired t p | "
            "Holm p | TOST p (+-0.50) | equivalence reached at | verdict |",
            "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r.setting} | {r.a} - {r.b} | {r.n} | {100 * r.mean:+.2f} | "
                f"[{100 * r.low:+.2f}, {100 * r.high:+.2f}] | "
                f"{'-' if r.wilcoxon_p is None else f'{r.wilcoxon_p:.3f}'} | {r.p:.4f} | "
                f"{r.p_holm:.4f} | {r.tost_p:.3f} | +-{100 * r.smallest_margin:.2f} | "
                f"{verdict(r, alpha, margin)} |"
            )
        lines.append("")
    joint = [
        (folder.name, r)
        for folder in folders
        for r in rederive((folder / "summary.md").read_text(encoding="utf-8"), margin, alpha)
    ]
    if len(joint) > 1:
        adjusted = holm([r.p for _, r in joint])
        lines += [
            f"### All of them as one family ({len(joint)} comparisons)",
            "",
            "| sweep | setting | A - B | paired t p | Holm p over all |",
            "|---|---|---|---:|---:|",
            *[
                f"| {name} | {r.setting} | {r.a} - {r.b} | {r.p:.4f} | {p:.4f} |"
                for (name, r), p in zip(joint, adjusted, strict=True)
            ],
            "",
        ]
    return "\n".join(lines)


_CELL = re.compile(r"(?P<mean>[\d.]+) \[(?P<low>[\d.]+), (?P<high>[\d.]+)\]")


def table1_prediction_count(text: str, n: int) -> list[dict]:
    """The cells of an earlier ``table1-10-seeds.md`` (printed paper cell; our mean and 95 % t
    interval of the mean over ``n`` seeds) with the 95 % prediction interval of one run each
    implies, ``mean +- half sqrt(n + 1)`` (the t interval's half-width times sqrt(n + 1)), and
    whether the printed cell lies inside it as printed (4 decimals)."""
    methods = ("magnitude", "random", "dtc")
    paper: dict[str, dict[str, float]] = {}
    cells = []
    in_bands = False
    for line in text.splitlines():
        parts = [p.strip() for p in line.strip().strip("|").split("|")]
        if line.startswith("## Over"):
            in_bands = True
            continue
        if len(parts) == 7 and not in_bands and re.fullmatch(r"[\d.]+", parts[0]):
            paper[parts[0]] = {m: float(parts[1 + 2 * i]) for i, m in enumerate(methods)}
        if len(parts) == 4 and in_bands and parts[0] in paper:
            for method, cell in zip(methods, parts[1:], strict=True):
                m = _CELL.match(cell)
                if m is None:
                    continue
                mean, low, high = float(m["mean"]), float(m["low"]), float(m["high"])
                half = (high - low) / 2 * (n + 1) ** 0.5
                p_low, p_high = round(mean - half, 4), round(mean + half, 4)
                printed = paper[parts[0]][method]
                cells.append(
                    {
                        "sparsity": parts[0],
                        "method": method,
                        "paper": printed,
                        "mean": mean,
                        "pi_low": p_low,
                        "pi_high": p_high,
                        "inside": p_low <= printed <= p_high,
                    }
                )
    return cells


def table1_page(text: str, n: int) -> str:
    """Markdown: the 45 cells with the prediction interval of one run and the new count."""
    cells = table1_prediction_count(text, n)
    by_level: dict[str, dict[str, dict]] = {}
    for c in cells:
        by_level.setdefault(c["sparsity"], {})[c["method"]] = c
    lines = [
        "| sparsity | magnitude | random | DTC |",
        "|---:|---|---|---|",
    ]
    for level, row in by_level.items():
        lines.append(
            f"| {level} | "
            + " | ".join(
                f"{row[m]['paper']:.4f} in [{row[m]['pi_low']:.4f}, {row[m]['pi_high']:.4f}] "
                f"{'yes' if row[m]['inside'] else 'NO'}"
                for m in ("magnitude", "random", "dtc")
            )
            + " |"
        )
    inside = sum(c["inside"] for c in cells)
    lines += [
        "",
        f"Printed cells inside the 95 % prediction interval of one run: {inside} of "
        f"{len(cells)} (about {0.95 * len(cells):.2f} expected for a faithful reproduction).",
    ]
    return "\n".join(lines) + "\n"
