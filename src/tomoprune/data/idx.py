"""A pure reader for IDX files (the format of MNIST and Fashion-MNIST), with validation.

An IDX file is a 4-byte magic number ``0x0000TTDD`` (``TT`` the element type, ``DD`` the number
of dimensions), ``DD`` big-endian uint32 sizes, then the elements in C order, big-endian. The
files may be gzip-compressed; compression is recognised by its own magic bytes, not by the name.

Every defect becomes a one-line :class:`~tomoprune.errors.DataError` that names the file, what is
wrong with it and how to fix it, so a bad download never turns into a confusing tensor error
later on.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from tomoprune.errors import DataError

LABELS_MAGIC = 0x00000801  # uint8, one dimension: (N,)
IMAGES_MAGIC = 0x00000803  # uint8, three dimensions: (N, rows, cols)

# element type code -> big-endian numpy dtype, as the IDX format defines them
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_FIX = "replace it with an intact copy (e.g. `tomoprune data download mnist`)"


def _fail(path: Path, problem: str, fix: str) -> DataError:
    return DataError(f"{path}: {problem}; {fix}.")


def read_idx_bytes(path: str | os.PathLike[str], *, fix: str = DEFAULT_FIX) -> bytes:
    """Return the IDX content of ``path``, gunzipped when the file is gzip-compressed.

    Parameters
    ----------
    path
        A raw or gzip-compressed IDX file.
    fix
        The remedy named in error messages (the caller knows which dataset this is).

    Raises
    ------
    DataError
        The file is missing or unreadable, or its gzip stream is corrupt or truncated.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror or exc})", fix) from None
    if not data:
        raise _fail(path, "the file is empty (0 bytes)", fix)
    return gunzip_if_compressed(data, path, fix=fix)


def gunzip_if_compressed(
    data: bytes, path: str | os.PathLike[str], *, fix: str = DEFAULT_FIX
) -> bytes:
    """Decompress ``data`` when it starts with the gzip magic bytes, else return it unchanged.

    ``path`` names the file in error messages; a name ending in ``.gz`` over data that is not
    gzip is an error (a damaged or half-finished download), not a raw file.
    """
    path = Path(path)
    if data[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise _fail(path, f"corrupt gzip data ({exc})", fix) from None
    if path.suffix == ".gz":
        raise _fail(path, "named .gz but is not gzip data (corrupt or incomplete download)", fix)
    return data


def parse_idx(data: bytes, path: str | os.PathLike[str], *, fix: str = DEFAULT_FIX) -> np.ndarray:
    """Decode IDX content (already decompressed) into an array in native byte order.

    ``path`` is used only to name the file in error messages. The returned array owns its
    memory and is writable.

    Raises
    ------
    DataError
        Bad magic number, unknown element type, or a payload that does not match the sizes in
        the header (truncated file or trailing bytes).
    """
    path = Path(path)
    if len(data) < 4:
        raise _fail(path, f"only {len(data)} bytes, too short for an IDX header", fix)
    magic = int.from_bytes(data[:4], "big")
    type_code, ndim = data[2], data[3]
    if data[:2] != b"\x00\x00" or type_code not in IDX_DTYPES or ndim == 0:
        raise _fail(path, f"bad magic number 0x{magic:08X}, not an IDX file", fix)
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise _fail(path, f"truncated header: {ndim} dimensions need {header_len} bytes", fix)
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_len
    if actual != expected:
        kind = "truncated" if actual < expected else "trailing bytes"
        shape = "x".join(map(str, dims))
        raise _fail(
            path,
            f"{kind}: header says {shape} elements of {dtype.itemsize} byte(s) = {expected} bytes "
            f"but the file holds {actual} bytes of data",
            fix,
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike[str], *, fix: str = DEFAULT_FIX) -> np.ndarray:
    """Read an IDX file (raw or ``.gz``) into a numpy array of the shape its header gives.

    Parameters
    ----------
    path
        The file to read.
    fix
        The remedy named in error messages.

    Returns
    -------
    numpy.ndarray
        Writable, native byte order, dtype from the header (uint8 for MNIST).
    """
    return parse_idx(read_idx_bytes(path, fix=fix), path, fix=fix)


def _check_magic(data: bytes, path: Path, expected: int, what: str, fix: str) -> None:
    if not data:
        raise _fail(path, "the file is empty (0 bytes)", fix)
    magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if magic != expected:
        found = f"missing (only {len(data)} bytes)" if magic is None else f"0x{magic:08X}"
        raise _fail(path, f"magic number {found} is not 0x{expected:08X} ({what})", fix)


def read_images(
    path: str | os.PathLike[str],
    *,
    image_shape: tuple[int, int] | None = (28, 28),
    fix: str = DEFAULT_FIX,
) -> np.ndarray:
    """Read an IDX image file: magic 0x00000803, uint8, shape (N, rows, cols).

    Parameters
    ----------
    image_shape
        The (rows, cols) every image must have; ``None`` accepts any.
    """
    path = Path(path)
    data = read_idx_bytes(path, fix=fix)
    _check_magic(data, path, IMAGES_MAGIC, "an IDX file of uint8 images", fix)
    images = parse_idx(data, path, fix=fix)
    if image_shape is not None and images.shape[1:] != tuple(image_shape):
        found = "x".join(map(str, images.shape[1:]))
        want = "x".join(map(str, image_shape))
        raise _fail(path, f"images are {found}, expected {want}", fix)
    return images


def read_labels(
    path: str | os.PathLike[str], *, num_classes: int | None = None, fix: str = DEFAULT_FIX
) -> np.ndarray:
    """Read an IDX label file: magic 0x00000801, uint8, shape (N,), values < ``num_classes``."""
    path = Path(path)
    data = read_idx_bytes(path, fix=fix)
    _check_magic(data, path, LABELS_MAGIC, "an IDX file of uint8 labels", fix)
    labels = parse_idx(data, path, fix=fix)
    if num_classes is not None and labels.size and int(labels.max()) >= num_classes:
        bad = int(np.count_nonzero(labels >= num_classes))
        raise _fail(
            path,
            f"{bad} label(s) outside 0..{num_classes - 1} (largest {int(labels.max())})",
            fix,
        )
    return labels


def check_pair(
    images: np.ndarray,
    labels: np.ndarray,
    images_path: str | os.PathLike[str],
    labels_path: str | os.PathLike[str],
    *,
    fix: str = DEFAULT_FIX,
) -> None:
    """Raise a DataError unless there is exactly one label per image."""
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {Path(labels_path).name} holds "
            f"{len(labels)} labels; the two files do not belong together; {fix}."
        )


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in ``.gz``).

    The inverse of :func:`read_idx`, used to build small datasets (e.g. for tests) in the
    exact on-disk format of MNIST. Not atomic: write to a temporary name if that matters.
    """
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, codes[native], array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    body = array.astype(IDX_DTYPES[codes[native]], copy=False).tobytes()
    payload = header + body
    path = Path(path)
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
