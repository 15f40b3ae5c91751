"""The width experiment's tables for a reader: ``width_table.md`` beside ``width_table.csv``.

One table per (architecture, set-up, mode, bits): per width the dense score, then Delta and the
task score (accuracy or R^2) of every method, as the mean over all compressed nets (trained
seeds x repeats) with the 2.5-97.5 percentile band in brackets. Below the tables, one line per
set-up says by how much the greedy compressor's Delta fell from the smallest to the largest
width, how much of that is left without the c^(-2m) normalisation (the unnormalised output
MSE; c grows with width, so Delta falls faster than the error itself) and how it compares with
each baseline at the largest width (ratios of mean Delta).
"""

from __future__ import annotations

from typing import Any

from tomoprune.records.tables import format_cell

# greedy first, then the baselines in a fixed order, then anything else as it comes
METHOD_ORDER = ("greedy", "magnitude", "wanda", "sparsegpt", "ls-refit", "rtn", "gptq")


def _fmt(value: float) -> str:
    return format_cell(value, 3, significant=True)


def _cell(row: dict[str, Any], field: str) -> str:
    mean, low, high = (float(row[f"{field}_{s}"]) for s in ("mean", "lo", "hi"))
    if low == high:
        return _fmt(mean)
    return f"{_fmt(mean)} [{_fmt(low)}, {_fmt(high)}]"


def _ordered_methods(rows: list[dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for row in rows:
        if row["method"] not in seen:
            seen.append(row["method"])
    known = [m for m in METHOD_ORDER if m in seen]
    return known + [m for m in seen if m not in known]


def _title(key: tuple[str, str, str, str]) -> str:
    architecture, setup, mode, bits = key
    what = "pruning" if mode == "prune" else f"quantization, {bits} bits"
    return f"{architecture}, {setup}, {what}"


def _groups(table: list[dict[str, Any]]) -> dict[tuple[str, str, str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for row in table:
        key = (row["architecture"], row["setup"], row["mode"], str(row["bits"] or ""))
        groups.setdefault(key, []).append(row)
    return groups


def setup_summaries(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per set-up measured at two widths or more: greedy's mean Delta at the smallest and the
    largest width and the fall between them (``None`` when it reaches 0), the same for the
    unnormalised output MSE (``None`` when the table lacks it), and greedy's mean Delta over
    each baseline's at the largest width."""
    summaries = []
    for key, rows in _groups(table).items():
        greedy = sorted((r for r in rows if r["method"] == "greedy"), key=lambda r: int(r["width"]))
        if len(greedy) < 2:
            continue
        first, last = greedy[0], greedy[-1]
        start, end = float(first["delta_mean"]), float(last["delta_mean"])
        summary: dict[str, Any] = {
            "title": _title(key),
            "first_width": int(first["width"]),
            "last_width": int(last["width"]),
            "start": start,
            "end": end,
            "fall": start / end if end > 0 else None,
            "mse_start": None,
            "mse_end": None,
            "mse_fall": None,
            "ratios": {
                r["method"]: end / float(r["delta_mean"])
                for r in rows
                if int(r["width"]) == int(last["width"])
                and r["method"] != "greedy"
                and float(r["delta_mean"]) > 0
            },
        }
        if first.get("output_mse_mean") not in ("", None):
            mse_start, mse_end = float(first["output_mse_mean"]), float(last["output_mse_mean"])
            summary.update(mse_start=mse_start, mse_end=mse_end)
            summary["mse_fall"] = mse_start / mse_end if mse_end > 0 else None
        summaries.append(summary)
    return summaries


def render_width_markdown(
    table: list[dict[str, Any]], *, dataset: str, kind: str, data_note: str = ""
) -> str:
    """Markdown text of the summary table (rows of ``width_table.csv``); ``data_note`` (what
    data was used, and any substitution) is printed under the title."""
    score = "accuracy" if kind == "classification" else "R^2"
    lines = [f"# Width experiment on {dataset}", ""]
    if data_note:
        lines += [data_note, ""]
    lines += [
        f"Delta = c^(-2m) E ||Phi(x) - Phi_hat(x)||^2 on the test split and the {score} of the "
        "compressed net; each cell is the mean over all compressed nets (trained seeds x "
        "repeats; a deterministic baseline has one per seed) with the 2.5-97.5 percentile band.",
    ]
    groups = _groups(table)
    for key, rows in groups.items():
        methods = _ordered_methods(rows)
        widths = sorted({int(r["width"]) for r in rows})
        lines += [
            "",
            f"## {_title(key)}",
            "",
            "| width | dense | "
            + " | ".join(f"{m} Delta" for m in methods)
            + " | "
            + " | ".join(f"{m} {score}" for m in methods)
            + " | density |",
            "|" + "---|" * (3 + 2 * len(methods)),
        ]
        for width in widths:
            by = {r["method"]: r for r in rows if int(r["width"]) == width}
            first = next(iter(by.values()))
            density = float(by.get("greedy", first)["density_mean"])
            lines.append(
                f"| {width} | {float(first['dense_score_mean']):.3f} | "
                + " | ".join(_cell(by[m], "delta") if m in by else "-" for m in methods)
                + " | "
                + " | ".join(_cell(by[m], "score") if m in by else "-" for m in methods)
                + f" | {density:.3f} |"
            )
    lines += ["", "## In one line per set-up", ""]
    for summary in setup_summaries(table):
        raw = ""
        if summary["mse_fall"] is not None:
            raw = (
                f"; unnormalised output MSE {_fmt(summary['mse_start'])} -> "
                f"{_fmt(summary['mse_end'])} ({summary['mse_fall']:.3g}x)"
            )
        fall = "reaches 0" if summary["fall"] is None else f"falls {summary['fall']:.3g}x"
        ratios = ", ".join(f"{m} {r:.3g}x" for m, r in summary["ratios"].items())
        last = summary["last_width"]
        lines.append(
            f"- {summary['title']}: greedy Delta {_fmt(summary['start'])} at width "
            f"{summary['first_width']} -> {_fmt(summary['end'])} at width {last} ({fall}{raw})"
            + (f"; greedy / baseline at width {last}: {ratios}" if ratios else "")
        )
    return "\n".join(lines) + "\n"
