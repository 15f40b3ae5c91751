"""``tomoprune reproduce recovery`` at a tiny scale: both tools reach the FLOPs target, the
tomoprune model reloads from its removal record, and an interrupted run keeps its stages."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from tomoprune.cli import main
from tomoprune.errors import ConfigError

pytest.importorskip("torchvision")

TINY = [
    "--set", "train_subset=64",
    "--set", "test_subset=32",
    "--set", "search_steps=4",
    "--set", "latency_repeats=1",
    "--epochs", "1",
    "--finetune-epochs", "1",
]  # fmt: skip


@pytest.fixture(scope="module")
def recovery_run(tiny_idx_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("recovery")
    argv = ["reproduce", "recovery", "--model", "resnet18", "--data-dir", str(tiny_idx_dir)]
    argv += [*TINY, "--threads", "1", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    return out, argv


def test_both_tools_prune_to_at_most_half_the_dense_flops(recovery_run):
    out, _ = recovery_run
    results = json.loads((out / "results.json").read_text())
    dense = results["dense"]
    for tool in ("tomoprune", "torch-pruning"):
        row = results["tools"][tool]
        assert row["flops"] <= 0.5 * dense["flops"]
        assert row["parameters"] < dense["parameters"]
        assert 0.0 < row["fraction"] < 0.95
        for key in ("accuracy_pruned", "accuracy_finetuned"):
            assert 0.0 <= row[key] <= 1.0
        assert results["latency"][f"{tool}_b32_s"] > 0
    assert "| tomoprune (Compressor, scorer=magnitude)" in (out / "recovery.md").read_text()


def test_tomoprune_model_reloads_exactly_from_its_removal_record(recovery_run):
    from tomoprune.api import load_compressed
    from tomoprune.reproduce.recovery import adapted_model

    out, _ = recovery_run
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    reloaded = load_compressed(adapted_model("resnet18"), x[:1], out / "tomoprune-model").eval()
    saved = torch.load(out / "tomoprune.pt", weights_only=False).eval()
    with torch.no_grad():
        assert torch.equal(reloaded(x), saved(x))


def test_rerun_redoes_only_the_missing_stage(recovery_run):
    out, argv = recovery_run
    kept = {
        name: (out / name).read_bytes() for name in ("dense.pt", "dense.json", "tomoprune.json")
    }
    before = json.loads((out / "torch-pruning.json").read_text())
    (out / "torch-pruning.json").unlink()
    (out / "latency.json").unlink()
    assert main(argv) == 0
    for name, data in kept.items():
        assert (out / name).read_bytes() == data
    again = json.loads((out / "torch-pruning.json").read_text())
    assert again["flops"] == before["flops"]  # same dense model, same search


def test_rerun_with_other_settings_into_the_same_folder_is_refused(recovery_run, capsys):
    out, argv = recovery_run
    assert main([*argv, "--seed", "3"]) == ConfigError.exit_code
    assert "other settings" in capsys.readouterr().err


def test_unknown_model_is_one_line_error(tmp_path, capsys):
    code = main(["reproduce", "recovery", "--model", "vgg11", "--out", str(tmp_path / "o")])
    assert code == ConfigError.exit_code
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "resnet18, mobilenet_v2" in err and "'vgg11'" in err


def test_fraction_search_finds_the_smallest_fraction_under_the_target():
    """Oracle: a Linear whose output width is round(1000 (1 - f)) has FLOPs linear in that
    width, so the smallest fraction reaching half the FLOPs (width 500) is 0.4995, found to
    within the search's step."""
    from tomoprune.reproduce.recovery import flops, search_fraction

    example = torch.randn(1, 8)

    def prune(fraction: float) -> nn.Module:
        return nn.Linear(8, round(1000 * (1 - fraction)), bias=False)

    target = 0.5 * flops(prune(0.0), example)
    fraction, model = search_fraction(prune, example, target, steps=12)
    assert flops(model, example) <= target
    assert 0.4995 <= fraction <= 0.4995 + 0.95 / 2**12


def test_tool_stage_before_the_dense_stage_is_refused(tiny_idx_dir, tmp_path, capsys):
    argv = ["reproduce", "recovery", "--data-dir", str(tiny_idx_dir), *TINY]
    argv += ["--stage", "torch-pruning", "--out", str(tmp_path / "o")]
    assert main(argv) == ConfigError.exit_code
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "dense stage is not done" in err
