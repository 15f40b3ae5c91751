"""``tomoprune reproduce mdl`` and ``tomoprune data compress`` / ``decompress`` end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from tomoprune.cli import main
from tomoprune.fileio import read_csv
from tomoprune.mdl import container
from tomoprune.reproduce import mdl, mdl_sizes

WORLD192 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "text" / "world192.txt"
TINY = [
    "--set", "model.d_model=16", "--set", "model.layers=1", "--set", "model.heads=2",
    "--set", "model.context=32", "--set", "train.batch_size=16",
    "--set", "warmup_steps=2", "--set", "regularised_max_steps=4",
    "--set", "finetune_max_steps=2", "--set", "eval_every=2",
    "--set", "calibration_segments=4", "--set", "gradient_prune_samples=4",
]  # fmt: skip


@pytest.fixture
def text_file(tmp_path) -> Path:
    path = tmp_path / "slice.txt"
    if WORLD192.is_file():
        path.write_bytes(WORLD192.read_bytes()[50000:52000])
    else:
        path.write_bytes((b"area: total 652,230 sq km; land 652,230 sq km\r\n" * 50)[:2000])
    return path


def test_reproduce_mdl_writes_the_description_length_table(text_file, tmp_path, capsys):
    out = tmp_path / "mdl"
    argv = ["reproduce", "mdl", "--text", str(text_file), "--out", str(out), *TINY, "-q"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == str(out)
    rows = read_csv(out / mdl.TABLE_CSV)
    coders = [(r["coder"], r["protocol"]) for r in rows]
    assert coders[:6] == [
        ("none", "two-part"),
        ("drr", "two-part"),
        ("rl1", "two-part"),
        ("pmmp", "two-part"),
        ("prequential", "online"),
        ("tomoprune online", "online (context mixing)"),
    ]
    assert {c for c, _ in coders[6:]} == {"gzip -9", "bzip2 -9", "xz -9e", "zstd -19"}
    online_row = rows[5]
    assert int(online_row["total_bytes"]) < min(int(r["total_bytes"]) for r in rows[6:])
    # the sizes table: the whole 2,000-byte file (the default prefixes exceed it)
    sizes = read_csv(out / mdl_sizes.SIZES_CSV)
    assert [r["coder"] for r in sizes] == [
        "tomoprune online", "gzip -9", "bzip2 -9", "xz -9e", "zstd -19"
    ]  # fmt: skip
    assert all(r["prefix_bytes"] == "2000" and r["round_trip"] == "True" for r in sizes)
    assert int(sizes[0]["compressed_bytes"]) == int(online_row["total_bytes"])
    for row in rows[:4]:
        size = (out / "models" / row["coder"] / mdl.MODEL_FILE).stat().st_size
        assert int(row["model_bytes"]) == size
        total = 8 * size + float(row["data_bits"])
        assert float(row["total_bits"]) == pytest.approx(total)
        assert float(row["bits_per_byte"]) == pytest.approx(total / 2000)
    assert "| drr | two-part |" in (out / mdl.TABLE_MD).read_text()
    # each model's folder is a run directory of the one record writer, which analyze accepts
    models = [str(out / "models" / m) for m in ("none", "drr")]
    assert main(["analyze", *models, "--out", str(tmp_path / "analysis")]) == 0


def test_two_part_compress_then_decompress_restores_the_file(text_file, tmp_path, capsys):
    packed = tmp_path / "slice.txt.tpz"
    argv = ["data", "compress", str(text_file), "-o", str(packed), "--mode", "two-part"]
    argv += [*TINY, "-q"]
    assert main(argv) == 0
    restored = tmp_path / "restored.txt"
    assert main(["data", "decompress", str(packed), "-o", str(restored), "-q"]) == 0
    assert restored.read_bytes() == text_file.read_bytes()
    # an existing output is not overwritten without --force
    assert main(["data", "decompress", str(packed), "-o", str(restored), "-q"]) == 3
    assert "--force" in capsys.readouterr().err


def test_online_compress_is_the_default_and_round_trips(text_file, tmp_path, capsys):
    packed = tmp_path / "slice.txt.tpz"
    assert main(["data", "compress", str(text_file), "--set", "online.table_bits=18"]) == 0
    out = capsys.readouterr().out
    assert "bits per byte" in out and "kB/s" in out
    assert container.mode_of(packed.read_bytes()) == "online"
    assert packed.stat().st_size < 0.5 * text_file.stat().st_size
    restored = tmp_path / "restored.txt"
    assert main(["data", "decompress", str(packed), "-o", str(restored), "-q"]) == 0
    assert restored.read_bytes() == text_file.read_bytes()


def test_online_check_length_reports_the_ideal_code_length(text_file, tmp_path, capsys):
    packed = tmp_path / "slice.txt.tpz"
    argv = ["data", "compress", str(text_file), "-o", str(packed), "--check-length"]
    assert main([*argv, "--set", "online.table_bits=18"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # however the console wrapped it
    assert "ideal code length" in out
    overhead = float(out.split("the file is ")[1].split(" %")[0])
    assert 0.0 <= overhead < 2.0  # the coder's few bytes over sum -log2 p, header included


@pytest.mark.parametrize("content", [b"", b"!"], ids=["empty", "one-byte"])
def test_empty_and_one_byte_files_round_trip(tmp_path, content):
    source = tmp_path / "tiny.bin"
    source.write_bytes(content)
    assert main(["data", "compress", str(source), "-q"]) == 0
    restored = tmp_path / "back.bin"
    assert main(["data", "decompress", str(source) + ".tpz", "-o", str(restored), "-q"]) == 0
    assert restored.read_bytes() == content


@pytest.mark.parametrize(
    "extra",
    [["--model", "m.safetensors"], ["--set", "model.d_model=8"], ["--set", "online.table_bits=99"]],
)
def test_online_mode_rejects_two_part_options_in_one_line(text_file, tmp_path, capsys, extra):
    code = main(["data", "compress", str(text_file), "-o", str(tmp_path / "x.tpz"), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("tomoprune: error:") and err.count("\n") == 1


@pytest.mark.parametrize("mode", ["online", "two-part"])
@pytest.mark.parametrize("cut", ["truncate", "flip", "empty"])
def test_damaged_compressed_file_gives_a_one_line_error(text_file, tmp_path, capsys, cut, mode):
    packed = tmp_path / "slice.txt.tpz"
    options = TINY if mode == "two-part" else ["--set", "online.table_bits=18"]
    argv = ["data", "compress", str(text_file), "-o", str(packed), "--mode", mode, *options]
    assert main([*argv, "-q"]) == 0
    blob = packed.read_bytes()
    damaged = {
        "truncate": blob[:-100],
        "flip": blob[:-50] + bytes([blob[-50] ^ 1]) + blob[-49:],
        "empty": b"",
    }[cut]
    packed.write_bytes(damaged)
    capsys.readouterr()
    restored = tmp_path / "restored.txt"
    code = main(["data", "decompress", str(packed), "-o", str(restored), "-q"])
    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith("tomoprune: error:") and err.count("\n") == 1
    assert "Traceback" not in err
    assert not restored.exists()


def test_sizes_table_on_prefixes_with_the_two_part_codec(text_file, tmp_path, capsys):
    out = tmp_path / "sizes"
    argv = ["reproduce", "mdl", "--text", str(text_file), "--out", str(out), "--sizes-only"]
    argv += ["--sizes", "500,1000,99999", "--sizes-two-part", *TINY, "-q"]
    assert main(argv) == 0
    rows = read_csv(out / mdl_sizes.SIZES_CSV)
    assert [int(r["prefix_bytes"]) for r in rows] == [500] * 6 + [1000] * 6
    assert rows[1]["coder"] == "tomoprune two-part (drr)"
    assert all(r["round_trip"] == "True" for r in rows)
    xz = [r for r in rows if r["coder"] == "xz -9e"]
    assert all(float(r["vs_xz_percent"]) == 0.0 for r in xz)
    assert (out / "provenance.json").is_file() and not (out / mdl.TABLE_CSV).exists()
    # the two-part results are reused on a second run
    stored = (out / "sizes" / "500" / "two_part.json").read_text()
    assert main(argv) == 0
    assert (out / "sizes" / "500" / "two_part.json").read_text() == stored


def test_bad_sizes_option_is_a_one_line_config_error(text_file, tmp_path, capsys):
    argv = ["reproduce", "mdl", "--text", str(text_file), "--out", str(tmp_path), "--sizes-only"]
    assert main([*argv, "--sizes", "12k"]) == 2
    assert "--sizes" in capsys.readouterr().err


def test_missing_text_file_is_a_one_line_error(tmp_path, capsys):
    code = main(["reproduce", "mdl", "--text", str(tmp_path / "nope.txt"), "--out", str(tmp_path)])
    assert code == 3
    assert "not found" in capsys.readouterr().err
