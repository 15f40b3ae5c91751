"""`tomoprune compress --from RUN_DIR` end to end on a tiny trained digits run."""

from __future__ import annotations

import json

import pytest
import torch

from tomoprune.cli import main
from tomoprune.fileio import read_csv
from tomoprune.methods.greedy.export import load_exported, read_quantized_export
from tomoprune.methods.l0.sparse_export import read_sparse_export
from tomoprune.models.projection import BallProjection
from tomoprune.models.spec import load_model
from tomoprune.records.run_dir import RunDirectory
from tomoprune.runs.runner import load_run_config, make_task


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("source") / "run"
    code = main(
        ["run", "--method", "magnitude", "--dataset", "digits", "--hidden", "40",
         "--set", "method.min_width=38", "--set", "train.steps_per_cycle=40",
         "--set", "data.validation_size=200", "--out", str(out), "-q"]
    )  # fmt: skip
    assert code == 0
    return out


def reloaded_equals_saved(out, reader):
    model = load_model(out / "model.safetensors", out / "model.json")
    fresh = load_model(out / "model.safetensors", out / "model.json")
    with torch.no_grad():
        for p in fresh.parameters():
            p.zero_()
    export = sorted(out.glob("model.*.safetensors"))[0]
    load_exported(fresh, reader(export))
    x = torch.randn(50, 1, 8, 8)
    return torch.equal(fresh(x), model(x))


@pytest.mark.parametrize(
    ("method", "extra", "reader"),
    [
        ("greedy-prune", ["--set", "method.wide_layers=[0]"], read_sparse_export),
        ("greedy-quant", ["--set", "method.bits=3", "--set", "method.wide_layers=[]",
                          "--set", "method.pair_layers=[0]", "--set", "method.rescore_rounds=4"],
         read_quantized_export),
        ("magnitude", ["--set", "method.layers=[0,1]", "--set", "method.scope=global"],
         read_sparse_export),
        ("obs", ["--set", "method.mode=quant", "--set", "method.bits=4",
                 "--set", "method.layers=[0,1]"], read_quantized_export),
    ],
)  # fmt: skip
def test_compress_writes_a_run_directory_with_source_and_honest_storage(
    trained_run, tmp_path, method, extra, reader, capsys
):
    out = tmp_path / method
    code = main(["compress", "--from", str(trained_run), "--method", method, *extra,
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["status"] == "finished"
    assert config["source"]["path"] == str(trained_run.resolve())
    assert config["source"]["method"] == "magnitude"
    rows = read_csv(out / "cycles.csv")
    assert len(rows) == 1 and rows[0]["train_steps"] == "0"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["export_bytes"] == (out / summary["export_file"]).stat().st_size
    assert summary["dense_float32_bytes"] == 4 * summary["parameters"]
    assert summary["delta"] >= 0 and summary["c1"] > 0
    if "quant" in method or "quant" in " ".join(extra):
        assert summary["size_ratio_vs_dense"] < 0.5
    assert reloaded_equals_saved(out, reader)
    assert "Delta" in capsys.readouterr().out


def test_compress_is_reproducible(trained_run, tmp_path):
    for name in ("a", "b"):
        assert main(["compress", "--from", str(trained_run), "--method", "greedy-prune",
                     "--out", str(tmp_path / name), "-q"]) == 0  # fmt: skip
    a = (tmp_path / "a" / "model.safetensors").read_bytes()
    assert a == (tmp_path / "b" / "model.safetensors").read_bytes()


def test_analyze_accepts_a_post_training_run_directory(trained_run, tmp_path):
    out = tmp_path / "greedy"
    assert main(["compress", "--from", str(trained_run), "--method", "greedy-prune",
                 "--out", str(out), "-q"]) == 0  # fmt: skip
    assert main(["analyze", str(trained_run), str(out), "--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "gibbs.json").is_file()


def test_compress_rejects_an_invalid_setting_in_one_line(trained_run, tmp_path, capsys):
    code = main(["compress", "--from", str(trained_run), "--method", "greedy-prune",
                 "--set", "method.alpha=2", "--out", str(tmp_path / "x")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "method.alpha" in err and "\n" not in err


def test_compress_on_an_unsupported_layer_names_it_in_one_line(trained_run, tmp_path, capsys):
    folder = tmp_path / "layernorm"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes((trained_run / "model.safetensors").read_bytes())
    spec = json.loads((trained_run / "model.json").read_text())
    relu = next(i for i, layer in enumerate(spec["layers"]) if layer["type"] == "ReLU")
    spec["layers"][relu] = {"type": "LayerNorm"}
    (folder / "model.json").write_text(json.dumps(spec))
    code = main(["compress", "--from", str(folder), "--dataset", "digits",
                 "--method", "greedy-prune", "--out", str(tmp_path / "y")])  # fmt: skip
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert "LayerNorm" in err and "\n" not in err


def test_compress_without_a_model_says_what_to_pass(tmp_path, capsys):
    code = main(["compress", "--from", str(tmp_path), "--method", "rtn",
                 "--out", str(tmp_path / "z")])  # fmt: skip
    assert code == 2
    assert "--from" in capsys.readouterr().err


def test_run_refuses_a_post_training_method(tmp_path, capsys):
    code = main(["run", "--method", "greedy-prune", "--dataset", "digits",
                 "--out", str(tmp_path / "r")])  # fmt: skip
    assert code == 2
    assert "tomoprune compress --from" in capsys.readouterr().err


def test_compress_with_projection_records_the_radius_and_reloads_exactly(
    trained_run, tmp_path, capsys
):
    source = trained_run
    out = tmp_path / "projected"
    code = main(["compress", "--from", str(source), "--method", "greedy-prune",
                 "--set", "method.project_output=true", "--set", "method.wide_layers=[]",
                 "--set", "method.pair_layers=[0]", "--out", str(out)])  # fmt: skip
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["params"]["project_output"] is True
    (record,) = json.loads((out / "summary.json").read_text())["layers"]
    dense = RunDirectory(source).load_model()
    weights = [m.weight.detach().double() for m in dense if isinstance(m, torch.nn.Linear)]
    c = max(float(torch.linalg.matrix_norm(w, ord=2)) for w in weights)
    calibration_x, _ = make_task(load_run_config(out)).calibration
    r = float(calibration_x.double().flatten(1).norm(dim=1).max())
    assert record["layer"] == 0 and record["radius"] == pytest.approx(c * r, rel=1e-9)
    model = load_model(out / "model.safetensors", out / "model.json")
    (ball,) = [m for m in model if isinstance(m, BallProjection)]
    assert ball.radius == record["radius"]
    fresh = load_model(out / "model.safetensors", out / "model.json")
    with torch.no_grad():
        for p in fresh.parameters():
            p.zero_()
    load_exported(fresh, read_sparse_export(out / "model.sparse.safetensors"))
    x = 10 * torch.randn(50, 1, 8, 8)  # large inputs: the ball binds
    assert bool(ball.outside(model[: list(model).index(ball)](x)).any())
    assert torch.equal(fresh(x), model(x))
    assert "Delta" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("method", "extra"),
    [
        ("gptq", ["--set", "method.bits=4", "--set", "method.group_size=16",
                  "--set", "method.act_order=true"]),
        ("sparsegpt", ["--set", "method.nm=2:4", "--set", "method.layers=[3]"]),
    ],
)  # fmt: skip
def test_gptq_and_sparsegpt_run_through_the_driver_and_reload(trained_run, tmp_path, method, extra):
    from tomoprune.posttraining.export import load_quantized

    out = tmp_path / method
    code = main(["compress", "--from", str(trained_run), "--method", method, *extra,
                 "--out", str(out), "-q"])  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    layers = [r["layer"] for r in summary["layers"]]
    model = load_model(out / "model.safetensors", out / "model.json")
    x = torch.randn(20, 1, 8, 8)
    if method == "gptq":
        assert len(layers) == len([m for m in model if isinstance(m, torch.nn.Linear)])
        fresh = load_quantized(load_model(out / "model.safetensors", out / "model.json"),
                               out / summary["export_file"])  # fmt: skip
        assert summary["size_ratio_vs_dense"] < 0.35
    else:
        assert layers == ["3"]
        assert float((model[3].weight == 0).double().mean()) == 0.5
        fresh = load_model(out / "model.safetensors", out / "model.json")
        with torch.no_grad():
            for p in fresh.parameters():
                p.zero_()
        load_exported(fresh, read_sparse_export(out / summary["export_file"]))
    assert torch.equal(fresh(x), model(x))


def test_wanda_n_of_m_through_the_cli_keeps_two_of_every_four_and_reloads(trained_run, tmp_path):
    out = tmp_path / "wanda"
    code = main(["compress", "--from", str(trained_run), "--method", "wanda",
                 "--set", "method.nm=2:4", "--out", str(out), "-q"])  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    model = load_model(out / "model.safetensors", out / "model.json")
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    assert len(summary["layers"]) == len(linears)
    for layer in linears:
        kept = (layer.weight != 0).reshape(layer.weight.shape[0], -1, 4).sum(2)
        assert torch.all(kept == 2)
    fresh = load_model(out / "model.safetensors", out / "model.json")
    with torch.no_grad():
        for p in fresh.parameters():
            p.zero_()
    load_exported(fresh, read_sparse_export(out / summary["export_file"]))
    x = torch.randn(20, 1, 8, 8)
    assert torch.equal(fresh(x), model(x))


def test_rtn_per_group_through_the_cli_equals_the_float64_oracle(trained_run, tmp_path):
    from tomoprune.posttraining import oracle
    from tomoprune.posttraining.export import load_quantized

    out = tmp_path / "rtn"
    code = main(["compress", "--from", str(trained_run), "--method", "rtn",
                 "--set", "method.bits=3", "--set", "method.group_size=16",
                 "--out", str(out), "-q"])  # fmt: skip
    assert code == 0
    source = load_model(trained_run / "model.safetensors", trained_run / "model.json")
    model = load_model(out / "model.safetensors", out / "model.json")
    for before, after in zip(source, model, strict=True):
        if isinstance(before, torch.nn.Linear):
            expected, _ = oracle.rtn(before.weight.detach().double().numpy(), 3, group_size=16)
            torch.testing.assert_close(
                after.weight.detach().double(), torch.from_numpy(expected), rtol=1e-6, atol=1e-6
            )
    summary = json.loads((out / "summary.json").read_text())
    fresh = load_quantized(load_model(out / "model.safetensors", out / "model.json"),
                           out / summary["export_file"])  # fmt: skip
    x = torch.randn(20, 1, 8, 8)
    assert torch.equal(fresh(x), model(x))


@pytest.mark.parametrize(
    ("method", "extra", "message"),
    [
        ("gptq", ["--set", "method.static_groups=true"], "'static_groups' setting of GPTQ"),
        ("wanda", ["--set", "method.nm=4:4"], "'nm' setting of Wanda must be 'N:M' with 0 < N < M"),
        ("wanda", ["--set", "method.nm=2:3"], "not a multiple of M = 3"),
        ("rtn", ["--set", "method.group_size=0"], "'method.group_size' setting must be"),
        ("rtn", ["--set", "method.span_radius=1.5"], "'span_radius' setting of RTN"),
        ("sparsegpt", ["--set", "method.layers=[nope]"], "matches no Linear"),
        ("obs", ["--set", "method.layers=[7]"], "names weighted layer 7"),
        ("greedy-prune", ["--set", "method.wide_layers=[9]"], "names weighted layer 9"),
    ],
)
def test_a_refused_setting_leaves_no_run_directory(
    trained_run, tmp_path, capsys, method, extra, message
):
    out = tmp_path / "refused"
    code = main(["compress", "--from", str(trained_run), "--method", method, *extra,
                 "--out", str(out)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not out.exists()


def test_compress_names_a_hugging_face_folder_in_one_line(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    code = main(["compress", "--from", str(tmp_path), "--method", "gptq",
                 "--out", str(tmp_path / "z")])  # fmt: skip
    assert code == 2
    assert "Hugging Face" in capsys.readouterr().err
