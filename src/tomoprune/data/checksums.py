"""Compare IDX files on disk with the published checksums of the original distribution.

A ``.gz`` file matches when its own md5 (and sha256, where one is published) equals the
published archive's. A file that was decompressed, or re-compressed (Debian ships Fashion-MNIST
re-compressed), still matches when the md5 of its decompressed content equals the published
content md5.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from tomoprune.data import idx
from tomoprune.data.catalog import IdxDatasetSpec, IdxFileSpec
from tomoprune.data.locate import IdxFiles, find_idx_files, fix_hint
from tomoprune.errors import DataError

ARCHIVE = "archive"  # the file is the published .gz, byte for byte
CONTENT = "content"  # its decompressed content is the published content
MISMATCH = "mismatch"


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def archive_matches(spec: IdxFileSpec, data: bytes) -> bool:
    """True when ``data`` is the published ``.gz`` file (md5, and sha256 when published)."""
    if md5_hex(data) != spec.md5:
        return False
    return spec.sha256 is None or hashlib.sha256(data).hexdigest() == spec.sha256


@dataclass(frozen=True, kw_only=True)
class FileCheck:
    """The verdict on one file."""

    role: str
    path: Path
    status: str  # ARCHIVE, CONTENT or MISMATCH
    md5: str  # of the file as stored

    @property
    def ok(self) -> bool:
        return self.status != MISMATCH


def check_file(
    spec: IdxFileSpec, path: str | os.PathLike[str], *, fix: str = idx.DEFAULT_FIX
) -> FileCheck:
    """Compare one file (raw or gzip) with the published checksums of ``spec``.

    Raises
    ------
    DataError
        The file cannot be read or its gzip stream is corrupt.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc}); {fix}.") from None
    if archive_matches(spec, data):
        status = ARCHIVE
    else:
        content = idx.gunzip_if_compressed(data, path, fix=fix)
        status = CONTENT if md5_hex(content) == spec.raw_md5 else MISMATCH
    return FileCheck(role=spec.role, path=path, status=status, md5=md5_hex(data))


@dataclass(frozen=True, kw_only=True)
class VerifyReport:
    """Checksums and validation of one dataset's four files."""

    files: IdxFiles
    checks: tuple[FileCheck, ...]
    counts: dict[str, int]  # "train" / "test" -> number of images

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def verify_idx_dataset(
    spec: IdxDatasetSpec,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    system_dirs: list[str] | None = None,
) -> VerifyReport:
    """Find ``spec``'s files, check them against the published checksums, and validate them.

    Validation (magic numbers, sizes, image shape, label range, one label per image) raises a
    DataError at the first defect; checksum mismatches are reported in the result instead, so
    a caller can show all four verdicts (a re-encoded but valid copy is still usable).
    """
    files = find_idx_files(spec, data_dir, system_dirs=system_dirs)
    paths = files.paths()
    fix = fix_hint(spec.name)
    checks = tuple(check_file(spec.file(role), path, fix=fix) for role, path in paths.items())
    counts = {}
    for split in ("train", "test"):
        images_path, labels_path = paths[f"{split}_images"], paths[f"{split}_labels"]
        images = idx.read_images(images_path, image_shape=spec.image_shape, fix=fix)
        labels = idx.read_labels(labels_path, num_classes=spec.num_classes, fix=fix)
        idx.check_pair(images, labels, images_path, labels_path, fix=fix)
        counts[split] = len(labels)
    return VerifyReport(files=files, checks=checks, counts=counts)


def require_verified(report: VerifyReport) -> None:
    """Raise a one-line DataError naming every file whose checksum differs from the published."""
    bad = [check for check in report.checks if not check.ok]
    if bad:
        names = ", ".join(f"{check.path} (md5 {check.md5})" for check in bad)
        raise DataError(
            f"{report.files.dataset}: {len(bad)} file(s) differ from the published originals: "
            f"{names}; {fix_hint(report.files.dataset)}."
        )
