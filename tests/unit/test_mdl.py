"""Dataset compression: code lengths, the packed export, the codec and the baselines."""

from __future__ import annotations

import bz2
import hashlib
import lzma
import math
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tomoprune.config import TrainConfig
from tomoprune.data.text import segment_inputs, segments
from tomoprune.errors import DataError
from tomoprune.mdl import codec
from tomoprune.mdl.baselines import COMPRESSORS, baseline_sizes, chunked_size
from tomoprune.mdl.codelength import code_length_bits
from tomoprune.mdl.fit import MDLConfig, fit_model, prequential_code_length
from tomoprune.mdl.model_io import pack_model, round_trip, unpack_model
from tomoprune.methods.l0.base import regularised_parameters
from tomoprune.models.transformer import ByteTransformer, TransformerConfig
from tomoprune.reproduce import mdl

WORLD192 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "text" / "world192.txt"
TINY_MODEL = TransformerConfig(d_model=16, layers=1, heads=2, context=32, init_seed=3)
TINY = MDLConfig(
    model=TINY_MODEL,
    train=TrainConfig(batch_size=16, lr=3e-3, eval_batch_size=64, data_seed=0),
    calibration_segments=8,
    warmup_steps=4,
    regularised_max_steps=8,
    finetune_max_steps=4,
    eval_every=4,
    gradient_prune_samples=8,
    alpha=1e-3,
)


@pytest.fixture(scope="module")
def text() -> bytes:
    """A slice of world192.txt (3,000 bytes: 93 segments of 32 and a 24-byte tail), or a
    synthetic English-like text when the shared file is absent."""
    if WORLD192.is_file():
        return WORLD192.read_bytes()[20000:23000]
    words = b"the world factbook lists the area, population and economy of every country. "
    return (words * 50)[:3000]


@pytest.fixture(scope="module")
def trained(text):
    return fit_model(text, "drr", TINY)


def oracle_bits(model: ByteTransformer, data: bytes) -> float:
    """Summed -log2 softmax(logits)[byte] computed in numpy (float64) from the model's logits."""
    full, tail = segments(data, model.config.context)
    total = 0.0
    for targets in ([full] if full.numel() else []) + ([tail[None]] if tail.numel() else []):
        with torch.no_grad():
            logits = model(segment_inputs(targets)).double().numpy()  # (S, L, 256)
        top = logits.max(axis=-1, keepdims=True)
        log_z = top[..., 0] + np.log(np.exp(logits - top).sum(axis=-1))
        picked = np.take_along_axis(logits, targets.numpy()[..., None], axis=-1)[..., 0]
        total += float((log_z - picked).sum()) / math.log(2.0)
    return total


def test_incremental_steps_give_the_forward_logits():
    model = ByteTransformer(TINY_MODEL).eval()
    ids = torch.randint(0, 257, (3, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(ids)
    cache = model.start(3, 20)
    stepped = torch.stack([model.step(ids[:, t], cache) for t in range(20)], dim=1)
    torch.testing.assert_close(stepped, full, atol=1e-5, rtol=1e-5)


def test_regularised_tensors_are_embeddings_and_linears_not_layernorms():
    model = ByteTransformer(TINY_MODEL)
    names = {item.name for item in regularised_parameters(model)}
    assert {"token.weight", "position.weight", "head.weight", "blocks.0.attn.qkv.bias"} <= names
    assert not any(".ln" in n or n.startswith("ln_f") for n in names)
    all_names = {n for n, _ in model.named_parameters()}
    assert all_names - names == {n for n in all_names if ".ln" in n or n.startswith("ln_f")}


def test_code_length_equals_summed_cross_entropy(trained, text):
    bits = code_length_bits(trained.model, text)
    assert bits == pytest.approx(oracle_bits(trained.model, text), rel=1e-6)
    assert 2.0 * len(text) < bits < 8.5 * len(text)  # a barely trained model, but not uniform


def test_arithmetic_code_is_within_a_few_bytes_of_the_code_length(trained, text):
    bits = code_length_bits(trained.model, text)
    blob, sizes = codec.compress(trained.model, text, group_size=16)
    assert bits / 8 - 8 <= sizes.code_bytes <= bits / 8 * 1.005 + 16
    ideal = len(trained.model_bytes) + bits / 8
    assert sizes.model_bytes == len(trained.model_bytes)
    assert len(blob) == sizes.total
    assert abs(len(blob) / ideal - 1) < 0.01


@pytest.mark.parametrize("group_size", [1, 7, 2048])
def test_compress_then_decompress_restores_the_bytes(trained, text, group_size):
    blob, _ = codec.compress(trained.model, text, group_size=group_size)
    assert codec.decompress(blob) == text


def test_short_input_shorter_than_a_segment_round_trips(trained):
    data = b"Hello, factbook!\r\n"
    blob, _ = codec.compress(trained.model, data)
    assert codec.decompress(blob) == data


def test_packed_export_restores_the_float16_parameters(trained):
    restored = unpack_model(trained.model_bytes)
    for (name, a), (_, b) in zip(
        trained.model.named_parameters(), restored.named_parameters(), strict=True
    ):
        assert torch.equal(a, b), name
    again, blob = round_trip(restored)
    assert blob == trained.model_bytes
    nonzero = sum(int((p != 0).sum()) for p in restored.parameters())
    assert nonzero < sum(p.numel() for p in restored.parameters())  # the regulariser pruned


def test_exported_size_equals_the_size_the_table_reports(text, tmp_path):
    result = mdl.run_model(text, "drr", TINY, tmp_path)
    path = tmp_path / "models" / "drr" / mdl.MODEL_FILE
    assert result["model_bytes"] == path.stat().st_size
    model = unpack_model(path.read_bytes())
    assert len(pack_model(model)) == result["model_bytes"]
    assert result["nonzero"] == sum(int((p != 0).sum()) for p in model.parameters())
    assert result["nonzero"] < result["parameters"]
    assert result["data_bits"] == pytest.approx(code_length_bits(model, text), rel=1e-9)
    row = mdl.model_row("drr", result)
    assert row["model_bytes"] == path.stat().st_size
    assert row["total_bits"] == 8 * path.stat().st_size + result["data_bits"]
    # a second call reuses the finished model instead of training again
    assert mdl.run_model(text, "drr", TINY, tmp_path) == result


def test_prequential_code_without_learning_is_the_initial_models_code(text):
    frozen = replace(TINY, train=replace(TINY.train, lr=0.0))
    online = prequential_code_length(text, frozen)
    initial = code_length_bits(ByteTransformer(TINY_MODEL), text)
    assert online.data_bits == pytest.approx(initial, rel=1e-6)


def test_prequential_code_beats_the_untrained_model(text):
    online = prequential_code_length(text, TINY)
    assert online.data_bits < code_length_bits(ByteTransformer(TINY_MODEL), text)


def _compressed(trained, text) -> bytes:
    return codec.compress(trained.model, text, group_size=16)[0]


def _with_crc(blob: bytes) -> bytes:
    """The blob with its header's CRC-32 recomputed (a damage the CRC cannot see)."""
    header = bytearray(blob[: codec.HEADER.size])
    header[-4:] = zlib.crc32(blob[codec.HEADER.size :]).to_bytes(4, "little")
    return bytes(header) + blob[codec.HEADER.size :]


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-5],  # truncated
        lambda b: b[:40],  # truncated inside the header
        lambda b: b + b"x",  # trailing bytes
        lambda b: b"XXXX" + b[4:],  # not our magic
        lambda b: b[: len(b) // 2] + bytes([b[len(b) // 2] ^ 1]) + b[len(b) // 2 + 1 :],
        lambda b: b[:-3] + bytes([b[-3] ^ 0x40]) + b[-2:],
        lambda b: _with_crc(b[:-3] + bytes([b[-3] ^ 0x40]) + b[-2:]),  # caught by the SHA-256
        lambda b: _with_crc(b[:100] + bytes([b[100] ^ 0xFF]) + b[101:]),  # the model's header
        lambda b: b"",
    ],
)
def test_damaged_file_raises_a_data_error_never_wrong_bytes(trained, text, damage):
    with pytest.raises(DataError) as info:
        codec.decompress(damage(_compressed(trained, text)))
    assert "\n" not in str(info.value)


def test_header_records_length_and_sha256(trained, text):
    header = codec.read_header(_compressed(trained, text))
    assert header.original_length == len(text)
    assert header.sha256 == hashlib.sha256(text).digest()


def test_baseline_sizes_on_a_known_input():
    data = b"abracadabra " * 100  # 1,200 bytes: two full 512-byte chunks and a 176-byte tail
    rows = {(r.compressor, r.protocol): r.bytes for r in baseline_sizes(data)}
    assert rows[("bzip2 -9", "whole file")] == len(bz2.compress(data, 9))
    chunks = [data[:512], data[512:1024], data[1024:]]
    assert rows[("xz -9e", "512-byte chunks")] == sum(
        len(lzma.compress(c, preset=9 | lzma.PRESET_EXTREME)) for c in chunks
    )
    assert rows[("gzip -9", "whole file")] < len(data) / 10  # repetitive input


@pytest.mark.skipif(not WORLD192.is_file(), reason="world192.txt not in ../shared")
def test_baselines_match_the_stock_tools_sizes_on_world192():
    """The sizes measured with the stock xz and bzip2 binaries (../shared/data/text/README)."""
    data = WORLD192.read_bytes()
    compressors = COMPRESSORS
    assert len(compressors["bzip2 -9"](data)) == 489_585
    assert len(compressors["xz -9e"](data)) == 484_764
    assert chunked_size(compressors["xz -9e"], data) == 1_933_676
