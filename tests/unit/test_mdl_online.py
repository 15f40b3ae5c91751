"""The online context-mixing codec: exact round trips, identical probabilities at both ends,
its parts against hand-computed values, and damaged files."""

from __future__ import annotations

import lzma
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

from tomoprune.errors import ConfigError, DataError  # noqa: E402
from tomoprune.mdl import cm_kernel as k  # noqa: E402
from tomoprune.mdl import codec, container, online  # noqa: E402
from tomoprune.models.transformer import ByteTransformer, TransformerConfig  # noqa: E402

WORLD192 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "text" / "world192.txt"
SMALL = online.OnlineConfig(table_bits=18, match_bits=14)  # 1 MiB of counters: fast to set up


@pytest.fixture(scope="module")
def text() -> bytes:
    """4,000 bytes of world192.txt, or an English-like stand-in when ../shared is absent."""
    if WORLD192.is_file():
        return WORLD192.read_bytes()[30000:34000]
    words = b"The economy of the country: agriculture, industry, exports; population growth. "
    return (words * 60)[:4000]


def test_encoder_and_decoder_see_identical_probabilities_bit_by_bit(text):
    code, encoded = online.encode(text, SMALL, trace=True)
    restored, decoded = online.decode(code, len(text), SMALL, trace=True)
    assert restored == text
    assert encoded.shape == (8 * len(text),)
    np.testing.assert_array_equal(encoded, decoded)
    assert encoded.min() >= 1 and encoded.max() <= 4095
    # the model adapts online: the second half is coded in fewer bits than the first
    half = 4 * len(text)
    first = online.ideal_bits(text[: len(text) // 2], encoded[:half])
    second = online.ideal_bits(text[len(text) // 2 :], encoded[half:])
    assert second < first


def test_code_length_is_within_a_few_bytes_of_the_summed_log_loss(text):
    code, probabilities = online.encode(text, SMALL, trace=True)
    ideal = online.ideal_bits(text, probabilities) / 8
    assert ideal - 1 <= len(code) <= ideal * 1.002 + 8


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"x",
        b"\x00",
        b"\xff" * 3000,
        bytes(range(256)) * 4,
        np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes(),
    ],
    ids=["empty", "one-byte", "zero-byte", "run", "ramp", "random"],
)
def test_compress_then_decompress_restores_the_bytes(data):
    blob = online.compress(data, SMALL)
    assert online.decompress(blob) == data
    assert container.decompress(blob) == data
    assert container.original_length(blob) == len(data)


def test_random_bytes_cost_barely_more_than_eight_bits_each():
    data = np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    code, _ = online.encode(data, SMALL)
    assert len(data) <= len(code) < 1.03 * len(data)


def test_online_mode_beats_xz_on_a_few_kilobytes_of_text(text):
    blob = online.compress(text)
    xz = lzma.compress(text, preset=9 | lzma.PRESET_EXTREME)
    assert len(blob) < 0.9 * len(xz)


def test_highly_repetitive_input_stays_within_the_length_bound():
    data = b"\x00" * 200_000
    blob = online.compress(data, SMALL)
    assert len(data) <= online.MAX_BYTES_PER_CODE_BYTE * (len(blob) - online.HEADER.size)
    assert online.decompress(blob) == data


def test_settings_from_the_header_decode_the_file(text):
    other = online.OnlineConfig(table_bits=16, match_bits=12, min_match=4, mixer_lr=3)
    blob = online.compress(text[:1500], other)
    assert online.read_header(blob).config == other
    assert online.decompress(blob) == text[:1500]


def test_out_of_range_setting_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match=r"online.table_bits.*16 to 30.*Got 40"):
        online.validate(online.OnlineConfig(table_bits=40))


def _resealed(blob: bytes) -> bytes:
    """The blob with its CRC-32 recomputed (a damage only the SHA-256 can see)."""
    body = blob[online.HEADER.size :]
    crc = zlib.crc32(body, zlib.crc32(blob[: online.HEADER.size - 4]))
    return blob[: online.HEADER.size - 4] + struct.pack("<I", crc) + body


def _flip(blob: bytes, at: int, mask: int = 1) -> bytes:
    return blob[:at] + bytes([blob[at] ^ mask]) + blob[at + 1 :]


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-3],  # truncated
        lambda b: b[:30],  # truncated inside the header
        lambda b: b + b"\x00",  # trailing bytes
        lambda b: b"",
        lambda b: b"PK\x03\x04" + b[4:],  # foreign file
        lambda b: b[:4] + b"\x09\x00" + b[6:],  # unknown format version
        lambda b: _flip(b, len(b) // 2),  # a code byte: caught by the CRC
        lambda b: _flip(b, 8),  # the original length: caught by the CRC
        lambda b: _resealed(_flip(b, len(b) - 20, 0x10)),  # caught by the SHA-256
        lambda b: _resealed(_flip(b, 48, 0xFF)),  # settings out of range
        lambda b: _resealed(_flip(b, 14, 0x40)),  # a forged length of 2**54 bytes
    ],
    ids=[
        "truncated", "header-cut", "trailing", "empty", "foreign", "version", "code-flip",
        "length-flip", "resealed-code-flip", "resealed-settings", "forged-length",
    ],
)  # fmt: skip
def test_damaged_file_raises_a_one_line_data_error(text, damage):
    blob = online.compress(text[:2000], SMALL)
    with pytest.raises(DataError) as info:
        container.decompress(damage(blob))
    assert "\n" not in str(info.value)


def test_two_part_files_still_decode_through_the_container():
    model = ByteTransformer(TransformerConfig(d_model=16, layers=1, heads=2, context=16))
    data = b"two-part files keep format version 1"
    blob, _ = codec.compress(model, data)
    assert container.mode_of(blob) == "two-part"
    assert container.decompress(blob) == data


# -- the parts, against hand-computed values


def test_squash_and_stretch_follow_the_logistic_function():
    """squash interpolates 4096 / (1 + e^(-d/256)) between knots half a logit apart (at most
    13/4096 off); stretch is its exact inverse on the 12-bit grid."""
    table = k.stretch_table()
    for d in range(-2047, 2048):
        assert abs(k.squash(d) - 4096 / (1 + math.exp(-d / 256))) < 13
    assert k.squash(0) == 2048 and k.squash(5000) == 4095 and k.squash(-5000) == 1
    for p in range(1, 4096):
        d = table[p]  # the smallest stretched value whose squash reaches p
        assert k.squash(d) >= p and (d == -2047 or k.squash(d - 1) < p)
    for p in (100, 1000, 2048, 3000, 4000):  # the log-odds, to within the interpolation
        assert table[p] == pytest.approx(256 * math.log(p / (4096 - p)), abs=12, rel=0.03)


def test_counter_moves_by_one_over_count_plus_one_and_a_half():
    recip = k.reciprocals(1023)
    value = 1 << 31  # p = 1/2, count 0
    value = k.counter_update(value, 1, 255, recip)
    assert value & 1023 == 1
    assert (value >> 10) / 2**22 == pytest.approx(0.5 + 0.5 / 1.5, abs=1e-4)
    value = k.counter_update(value, 0, 255, recip)  # p -= p / 2.5
    assert (value >> 10) / 2**22 == pytest.approx((0.5 + 0.5 / 1.5) * (1 - 1 / 2.5), abs=1e-4)
    capped = (1 << 31) | 3
    assert k.counter_update(capped, 1, 3, recip) & 1023 == 3  # the count stops at the limit


def test_mixer_output_and_step_match_hand_computed_values():
    weights = np.array([65536, 32768, 16384, 0], dtype=np.int64)
    inputs = np.array([256, -512, 1024, 256], dtype=np.int64)
    # (256 * 1 - 512 * 0.5 + 1024 * 0.25 + 256 * 0) = 256 in the stretched domain
    assert k.mixer_dot(weights, 0, inputs, 4) == 256
    assert k.mixer_dot(weights * 100, 0, inputs, 4) == 2047  # clamped
    p = k.squash(256)  # 4096 / (1 + e^-1) = 2994
    assert p == 2994
    err = (4096 - p) * 6  # the bit was a 1
    k.mixer_update(weights, 0, inputs, 4, err)
    step = [(x * err + 8192) >> 14 for x in (256, -512, 1024, 256)]  # x * err / 2**14
    assert step == [103, -207, 413, 103]
    np.testing.assert_array_equal(weights, [65536 + 103, 32768 - 207, 16384 + 413, 103])
    # a second offset selects another weight set
    two = np.zeros(8, dtype=np.int64)
    two[4:] = [65536, 0, 0, 0]
    assert k.mixer_dot(two, 4, inputs, 4) == 256 and k.mixer_dot(two, 0, inputs, 4) == 0


def test_mixer_learns_which_input_to_trust():
    """Input 0 always points the right way, input 1 the wrong way: online steps move the
    weights so that the mixed probability of the true bit rises (the float64 logistic
    regression gradient has the same signs)."""
    weights = np.full(2, 16384, dtype=np.int64)
    inputs = np.array([512, -512], dtype=np.int64)
    first = k.squash(k.mixer_dot(weights, 0, inputs, 2))
    for _ in range(200):
        p = k.squash(k.mixer_dot(weights, 0, inputs, 2))
        k.mixer_update(weights, 0, inputs, 2, (4096 - p) * 6)
    assert first == 2048
    assert weights[0] > 16384 > weights[1]
    assert k.squash(k.mixer_dot(weights, 0, inputs, 2)) > 3500


def _match_states(data: bytes, min_match: int) -> list[tuple[int, int]]:
    buf = np.frombuffer(data, dtype=np.uint8).copy()
    table = np.zeros(1 << 12, dtype=np.int64)
    ptr, length, states = 0, 0, []
    for pos in range(len(buf)):
        ptr, length = k.match_advance(buf, pos, table, (1 << 12) - 1, min_match, ptr, length)
        states.append((ptr, length))
    return states


def test_match_model_finds_and_extends_the_earlier_occurrence():
    #          0123456789
    states = _match_states(b"abcdXabcdY", 3)
    assert [s[1] for s in states[:7]] == [0] * 7  # no repeat of 3 bytes before position 7
    assert states[7] == (3, 3)  # after "abc" again: predicts data[3] = 'd', 3 bytes matched
    assert states[8] == (4, 4)  # 'd' was right: the match grows, predicts data[4] = 'X'
    assert states[9][1] == 0  # 'Y' broke it


def test_match_model_verifies_and_measures_the_longest_context():
    # "xabc" occurs twice; the match found after the second "abc" covers "xabc" (4 bytes),
    # and a shorter minimum does not shorten the measured length
    data = b"xabc1xabc2"
    states = _match_states(data, 2)
    assert states[8] == (4, 4)
    assert k.match_find(np.frombuffer(data, np.uint8), 9, 4, 512) == 4
    assert k.match_find(np.frombuffer(data, np.uint8), 9, 4, 2) == 2  # capped


def test_match_bucket_is_exact_for_short_matches_and_monotone():
    buckets = [k.match_bucket(n) for n in range(0, 2000)]
    assert buckets[:16] == list(range(16))
    assert all(a <= b for a, b in zip(buckets, buckets[1:], strict=False))
    assert max(buckets) == k.MATCH_BUCKETS - 1
