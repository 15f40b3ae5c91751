"""Fetch MNIST / Fashion-MNIST from public mirrors, checked against the published checksums.

Each file is tried on every mirror in turn until one serves it with the right checksum; a
file already present and matching is not fetched again. Downloads stream into a temporary file
beside the destination and are renamed into place only once verified, so an interrupted or
corrupted transfer never leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from tomoprune.data.catalog import IdxDatasetSpec, IdxFileSpec, idx_spec
from tomoprune.data.checksums import check_file
from tomoprune.data.locate import (
    ENV_VAR,
    SearchRoot,
    default_download_dir,
    describe_roots,
    find_idx_files,
    search_roots,
)
from tomoprune.errors import DataError

DEFAULT_TIMEOUT = 30.0  # seconds without data before a mirror is given up
CHUNK_BYTES = 1 << 16


def download_dataset(
    name: str,
    dest_dir: str | os.PathLike[str] | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool | None = None,
) -> Path:
    """Download the four IDX files of ``name`` into ``dest_dir`` and return that folder.

    Parameters
    ----------
    name
        ``"mnist"`` or ``"fashion-mnist"``.
    dest_dir
        Folder the ``.gz`` files are written to; default ``$TOMOPRUNE_DATA/NAME`` when that is
        set, else ``~/.cache/tomoprune/NAME`` (both are searched by ``load_dataset``).
    mirrors
        Base URLs tried in order (``http(s)://`` or ``file://``); default: the dataset's public
        mirrors.
    timeout
        Seconds a mirror may stay silent before the next one is tried.
    progress
        Show a progress bar on stderr; default: only when stderr is a terminal.

    Raises
    ------
    ConfigError
        Unknown dataset name.
    DataError
        Some file could not be fetched with the right checksum from any mirror; the message
        names each mirror's failure, the places searched for local copies, and how to use them.
    """
    spec = idx_spec(name)
    dest = Path(dest_dir).expanduser() if dest_dir is not None else default_download_dir(name)
    return download_idx_files(spec, dest, mirrors=mirrors, timeout=timeout, progress=progress)


def download_idx_files(
    spec: IdxDatasetSpec,
    dest: Path,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool | None = None,
) -> Path:
    """:func:`download_dataset` for an explicit spec (file names and checksums)."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create {dest} ({exc.strerror or exc}); choose another folder with --dest DIR."
        ) from None
    bases = tuple(spec.mirrors if mirrors is None else mirrors)
    show = sys.stderr.isatty() if progress is None else progress
    with _progress_bar(show) as bar:
        for file in spec.files:
            if not _present_and_valid(file, dest):
                _fetch(spec, file, dest, bases, timeout, bar)
    return dest


def _present_and_valid(file: IdxFileSpec, dest: Path) -> bool:
    """True when ``dest`` already holds this file (any accepted spelling) with the published
    checksum; a damaged copy is simply downloaded again."""
    for spelling in file.spellings:
        path = dest / spelling
        if path.is_file():
            try:
                if check_file(file, path).ok:
                    return True
            except DataError:
                pass
    return False


def _progress_bar(show: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not show,
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _fetch(
    spec: IdxDatasetSpec,
    file: IdxFileSpec,
    dest: Path,
    bases: Sequence[str],
    timeout: float,
    bar: Progress,
) -> None:
    """Fetch one file from the first mirror that serves it intact; raise DataError if none."""
    failures = []
    for base in bases:
        url = base if base.endswith("/") else base + "/"
        url += file.archive_name
        fd, tmp_name = tempfile.mkstemp(prefix=f".{file.archive_name}.", suffix=".part", dir=dest)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                md5, sha256 = _stream(url, out, timeout, bar, file.archive_name)
            if md5 != file.md5 or (file.sha256 is not None and sha256 != file.sha256):
                failures.append(f"{url}: checksum mismatch (md5 {md5}, expected {file.md5})")
                continue
            tmp.chmod(0o644)  # mkstemp creates 0600; a dataset is ordinary readable data
            os.replace(tmp, dest / file.archive_name)
            return
        except (OSError, ValueError, http.client.HTTPException) as exc:
            failures.append(f"{url}: {_reason(exc)}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DataError(_failure_message(spec, file, dest, failures))


def _stream(url: str, out: BinaryIO, timeout: float, bar: Progress, label: str) -> tuple[str, str]:
    """Copy ``url`` into the open binary file ``out``; return its md5 and sha256."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response:
        task = bar.add_task(label, total=getattr(response, "length", None))
        try:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                md5.update(chunk)
                sha256.update(chunk)
                bar.advance(task, len(chunk))
        finally:
            bar.remove_task(task)
        out.flush()
        os.fsync(out.fileno())
    return md5.hexdigest(), sha256.hexdigest()


def _failure_message(
    spec: IdxDatasetSpec, file: IdxFileSpec, dest: Path, failures: list[str]
) -> str:
    tried = "; ".join(failures) if failures else "no mirror given"
    roots = search_roots(spec)
    if not any(dest in root.folders(spec.name) for root in roots):
        roots.insert(0, SearchRoot(path=dest, origin="dest", with_subfolder=False))
    message = (
        f"{spec.name}: could not download {file.archive_name} from any mirror ({tried}); "
        f"without network, copy the four IDX files into one of {describe_roots(roots, spec.name)}"
        f", or point --data-dir DIR or ${ENV_VAR} at a folder holding them"
    )
    try:
        found = find_idx_files(spec)
    except DataError:
        return message + "."
    return message + f" (a complete copy is already at {found.directory})."
