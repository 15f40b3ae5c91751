"""``tomoprune analyze`` and ``tomoprune report`` end to end on the authors' recorded run."""

from __future__ import annotations

import json

import pytest

import tomoprune.cli as cli
from tomoprune.reproduce.paper import default_reference_path

FAST = ["--permutations", "40", "--bootstrap", "40", "--null-draws", "5"]

needs_reference = pytest.mark.skipif(
    not default_reference_path().is_file(),
    reason="the authors' recorded run (../shared/reference) is not beside the checkout",
)


@pytest.fixture
def tomoprune():
    """The real ``tomoprune`` entry point, arguments given as separate values."""
    return lambda *argv: cli.main([str(a) for a in argv])


@needs_reference
def test_analyze_reference_prints_verdicts_and_writes_gibbs_json(tomoprune, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["analyze", "--reference", "--cross-pairs", "--out", out, *FAST, "--no-figures"]
    assert tomoprune(*argv) == 0
    printed = capsys.readouterr().out
    assert "pearson r = 0.917" in printed and "pearson r = 0.941" in printed
    assert "size-only null" in printed and "no measurements.json" in printed
    doc = json.loads((out / "gibbs.json").read_text())
    assert doc["settings"]["n_permutations"] == 40 and doc["figures"] == []
    assert len(doc["correlations"]) == 6
    assert (out / "reference-runs" / "reference-dtc" / "measurements.json").is_file()


@needs_reference
def test_report_on_converted_run_dirs(tomoprune, tmp_path, capsys):
    assert tomoprune("analyze", "--reference", "--out", tmp_path / "a", *FAST, "--no-figures") == 0
    runs = tmp_path / "a" / "reference-runs"
    code = tomoprune(
        "report",
        runs / "reference-random",
        runs / "reference-dtc",
        "--out",
        tmp_path / "r",
        *FAST,
        "--histogram-cycles",
        "5,30",
        "--method",
        "spearman",
    )
    assert code == 0
    md = (tmp_path / "r" / "report.md").read_text()
    assert "| random | 0.9412 | 0.9412 | 0.9412 | 34 |" in md
    assert "spearman r =" in md
    assert "data:image/png;base64," in (tmp_path / "r" / "report.html").read_text()


def test_not_a_run_dir_is_one_line_error_with_record_exit_code(tomoprune, tmp_path, capsys):
    code = tomoprune("analyze", tmp_path, "--out", tmp_path / "out")
    err = capsys.readouterr().err.strip()
    assert code == 5
    assert err.startswith("tomoprune: error:") and "not a tomoprune run directory" in err
    assert len(err.splitlines()) == 1


def test_no_run_dir_and_bad_options_are_config_errors(tomoprune, tmp_path, capsys):
    assert tomoprune("analyze", "--out", tmp_path) == 2
    assert "RUN_DIR" in capsys.readouterr().err
    assert tomoprune("analyze", tmp_path, "--out", tmp_path, "--binning", "nope") == 2
    assert tomoprune("report", tmp_path, "--out", tmp_path, "--histogram-cycles", "a,b") == 2


def test_runs_are_not_cross_paired_unless_asked(tomoprune, tmp_path, capsys):
    out = tmp_path / "a"
    assert tomoprune("analyze", "--reference", "--out", out, *FAST, "--no-figures") == 0
    doc = json.loads((out / "gibbs.json").read_text())
    pairs = {(c["entropy_run"], c["accuracy_run"]) for c in doc["correlations"]}
    assert pairs == {("reference-dtc", "reference-dtc")}
