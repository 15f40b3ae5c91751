"""The IDX reader: good files in every container, and one clear error per kind of defect."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from tomoprune.data import idx
from tomoprune.errors import DataError


def idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    """An IDX file built by hand from the format's definition (the oracle for the reader)."""
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + payload


def images_bytes(n: int = 3, rows: int = 28, cols: int = 28) -> bytes:
    pixels = (np.arange(n * rows * cols) % 256).astype(np.uint8)
    return idx_bytes(0x00000803, (n, rows, cols), pixels.tobytes())


def assert_one_line_naming(exc: pytest.ExceptionInfo, path, *needles: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    assert path.name in message
    for needle in needles:
        assert needle in message, message


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
def test_reads_images_raw_or_gzipped_as_the_header_says(tmp_path, name):
    path = tmp_path / name
    data = images_bytes(n=3)
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)

    images = idx.read_images(path)

    assert images.shape == (3, 28, 28) and images.dtype == np.uint8
    assert images.ravel().tolist() == list(data[16:])
    assert images.flags.writeable


def test_gzip_is_recognised_by_content_not_by_name(tmp_path):
    path = tmp_path / "train-images.idx3-ubyte"
    path.write_bytes(gzip.compress(images_bytes(n=2)))
    assert idx.read_idx(path).shape == (2, 28, 28)


def test_multibyte_types_are_read_big_endian(tmp_path):
    path = tmp_path / "values.idx"
    path.write_bytes(idx_bytes(0x00000C02, (2, 2), struct.pack(">4i", 1, -2, 70000, -70000)))
    assert idx.read_idx(path).tolist() == [[1, -2], [70000, -70000]]


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64])
def test_write_then_read_round_trips(tmp_path, dtype):
    offset = 0 if dtype == np.uint8 else -5  # negative values where the type has them
    array = (np.arange(24).reshape(2, 3, 4) + offset).astype(dtype)
    path = tmp_path / "a.idx.gz"
    idx.write_idx(path, array)
    back = idx.read_idx(path)
    assert back.dtype == array.dtype and np.array_equal(back, array)


def test_labels_in_range_are_accepted(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(idx_bytes(0x00000801, (4,), bytes([0, 9, 3, 9])))
    assert idx.read_labels(path, num_classes=10).tolist() == [0, 9, 3, 9]


def test_truncated_file_is_rejected_with_sizes(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(images_bytes(n=3)[:-100])
    with pytest.raises(DataError) as exc:
        idx.read_images(path)
    assert_one_line_naming(exc, path, "truncated", "3x28x28", str(3 * 784 - 100))


def test_trailing_bytes_are_rejected(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(images_bytes(n=3) + b"\x00" * 7))
    with pytest.raises(DataError) as exc:
        idx.read_idx(path)
    assert_one_line_naming(exc, path, "trailing bytes")


def test_truncated_gzip_stream_is_rejected(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(images_bytes(n=3))[:-20])
    with pytest.raises(DataError) as exc:
        idx.read_idx(path)
    assert_one_line_naming(exc, path, "corrupt gzip")


def test_gzip_with_a_bad_checksum_is_rejected(tmp_path):
    data = bytearray(gzip.compress(images_bytes(n=3)))
    data[-8] ^= 0xFF  # the CRC32 of the uncompressed data
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as exc:
        idx.read_idx(path)
    assert_one_line_naming(exc, path, "corrupt gzip")


def test_gz_name_over_non_gzip_data_is_rejected(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DataError) as exc:
        idx.read_idx(path)
    assert_one_line_naming(exc, path, "not gzip")


def test_bad_magic_is_rejected(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DataError) as exc:
        idx.read_idx(path)
    assert_one_line_naming(exc, path, "bad magic number 0x3C68746D")


def test_label_file_given_as_images_is_rejected_by_magic(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(0x00000801, (3,), bytes([1, 2, 3])))
    with pytest.raises(DataError) as exc:
        idx.read_images(path)
    assert_one_line_naming(exc, path, "0x00000801 is not 0x00000803")


def test_images_of_the_wrong_size_are_rejected(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(images_bytes(n=2, rows=27, cols=28))
    with pytest.raises(DataError) as exc:
        idx.read_images(path)
    assert_one_line_naming(exc, path, "27x28", "expected 28x28")


def test_labels_out_of_range_are_rejected(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(0x00000801, (4,), bytes([0, 10, 3, 12])))
    with pytest.raises(DataError) as exc:
        idx.read_labels(path, num_classes=10)
    assert_one_line_naming(exc, path, "2 label(s) outside 0..9", "largest 12")


def test_image_and_label_counts_must_agree(tmp_path):
    images, labels = np.zeros((5, 28, 28), np.uint8), np.zeros(4, np.uint8)
    images_path, labels_path = tmp_path / "a-images", tmp_path / "a-labels"
    with pytest.raises(DataError) as exc:
        idx.check_pair(images, labels, images_path, labels_path)
    assert_one_line_naming(exc, images_path, "5 images", "4 labels", labels_path.name)


def test_missing_file_is_a_data_error(tmp_path):
    path = tmp_path / "nothing-here.gz"
    with pytest.raises(DataError) as exc:
        idx.read_idx(path)
    assert_one_line_naming(exc, path, "cannot be read")


def test_errors_carry_the_callers_fix(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match="run `tomoprune data download mnist`"):
        idx.read_idx(path, fix="run `tomoprune data download mnist`")
