"""The width experiment's ``project_output`` setting: parsed, recorded, passed to the compressor."""

from __future__ import annotations

import json

from tomoprune.cli import build_parser
from tomoprune.cli.width_cmd import width_config
from tomoprune.models.projection import BallProjection
from tomoprune.reproduce import width
from tomoprune.reproduce.width import WidthConfig, run_width_experiment


def test_width_experiment_projects_when_asked_and_records_it(tmp_path, monkeypatch):
    seen = []
    compress = width.greedy_compress

    def recording(model, x, params, rng=None):
        result = compress(model, x, params, rng)
        seen.append(
            (params.project_output, [m for m in result.model if isinstance(m, BallProjection)])
        )
        return result

    monkeypatch.setattr(width, "greedy_compress", recording)
    config = WidthConfig(
        dataset="digits", widths=(4,), seeds=1, repeats=1, epochs=1, bits=(2,),
        architectures=("unstructured",), calibration_size=32, rescore_rounds=2,
        project_output=True,
    )  # fmt: skip
    run_width_experiment(config, tmp_path, announce=lambda m: None)
    assert seen and all(on and len(balls) == 1 for on, balls in seen)
    record = json.loads((tmp_path / "experiment.json").read_text())
    assert record["config"]["project_output"] is True
    assert WidthConfig().project_output is False


def test_width_command_reads_project_output_from_set():
    args = build_parser().parse_args(
        ["reproduce", "width-tradeoff", "--dataset", "digits", "--set", "project_output=true",
         "--out", "unused"]
    )  # fmt: skip
    assert width_config(args).project_output is True
