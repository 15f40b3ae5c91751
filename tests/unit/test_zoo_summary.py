"""The zoo benchmark's summary: the counts and comparisons the issue's claim rests on."""

from __future__ import annotations

import json

from benchmarks import zoo


def _row(model: str, method: str, status: str = "ok", b1: tuple[float, float] = (2.0, 1.0)):
    row = {"model": model, "method": method, "status": status}
    if status == "ok":
        row.update(
            params_before=10, params_after=6, flops_before=100, flops_after=60, prune_s=0.1,
            latency_b1_before_s=b1[0], latency_b1_after_s=b1[1],
        )  # fmt: skip
    return row


def test_summary_counts_ok_refused_and_over_budget_runs_and_the_median_speed_up():
    rows = [
        _row("a", "tomoprune-magnitude", b1=(2.0, 1.0)),
        _row("b", "tomoprune-magnitude", b1=(3.0, 1.0)),
        _row("c", "tomoprune-magnitude", b1=(4.0, 1.0)),
        _row("d", "tomoprune-magnitude", "error: UnsupportedModelError: one line"),
        _row("e", "tomoprune-magnitude", "error: timeout: over 105 CPU s"),
    ]
    text = zoo.summary(rows)
    line = next(x for x in text.splitlines() if x.startswith("- tomoprune-magnitude"))
    assert "3 of 5 models ok, 1 refused with a one-line error, 1 over the CPU budget" in line
    assert "median batch-1 speed-up 3.00x (over 3)" in line


def test_summary_names_the_models_only_one_tool_prunes():
    rows = [
        _row("both", "tomoprune-magnitude"),
        _row("both", "tp-magnitude"),
        _row("ours", "tomoprune-magnitude"),
        _row("ours", "tp-magnitude", "error: RuntimeError: shape"),
        _row("theirs", "tomoprune-magnitude", "error: UnsupportedModelError: x"),
        _row("theirs", "tp-magnitude"),
    ]
    lines = zoo.summary(rows).splitlines()
    assert "- models Torch-Pruning prunes and tomoprune (magnitude) does not: theirs" in lines
    assert "- models tomoprune (magnitude) prunes and Torch-Pruning does not: ours" in lines


def test_write_table_renders_every_run_file(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for row in (_row("m", "tomoprune-magnitude"), _row("m", "tp-magnitude", "error: X: y | z")):
        (runs / f"{row['model']}__{row['method']}.json").write_text(json.dumps(row))
    zoo.write_table(tmp_path)
    table = (tmp_path / "zoo.md").read_text()
    assert "| m | tomoprune-magnitude | ok | 0.00 M → 0.00 M |" in table
    assert "error: X: y / z" in table  # a pipe in an error cannot break the table
    assert len(json.loads((tmp_path / "zoo.json").read_text())) == 2


def test_summary_pairs_the_speed_ups_over_the_models_both_tools_prune():
    rows = [
        _row("a", "tomoprune-magnitude", b1=(2.0, 1.0)),
        _row("a", "tp-magnitude", b1=(4.0, 1.0)),
        _row("b", "tomoprune-magnitude", b1=(3.0, 1.0)),
        _row("b", "tp-magnitude", b1=(6.0, 1.0)),
        _row("c", "tomoprune-magnitude", b1=(9.0, 1.0)),  # Torch-Pruning failed: not paired
        _row("c", "tp-magnitude", "error: RuntimeError: shape"),
    ]
    assert (
        "- the 2 models both tools prune (magnitude) with batch-1 latencies: median speed-up "
        "2.50x (tomoprune) and 5.00x (Torch-Pruning)"
    ) in zoo.summary(rows).splitlines()


def test_summary_names_the_runs_that_left_groups_whole():
    partial = _row("swinlike", "tomoprune-dtc")
    partial["groups_left_whole"] = "1 unit group(s) left whole: ..."
    lines = zoo.summary([_row("plain", "tomoprune-magnitude"), partial]).splitlines()
    assert (
        "- tomoprune runs that left unit groups whole (their search ran past its bound): "
        "swinlike (tomoprune-dtc)" in lines
    )
