"""Where an IDX dataset's four files are looked for, and the error when they are nowhere.

Search order (the first folder holding all four files wins):

1. ``data_dir``, when the caller gives one (``--data-dir DIR``);
2. ``$TOMOPRUNE_DATA``;
3. the user cache, ``$XDG_CACHE_HOME/tomoprune`` or ``~/.cache/tomoprune``;
4. folders where an operating-system package installs the dataset (Debian's
   ``dataset-fashion-mnist`` for Fashion-MNIST).

In each of the first three the sub-folder named after the dataset (``mnist/``,
``fashion-mnist/``) is tried before the folder itself, because both datasets use the same file
names and so cannot share one folder. A ``data_dir`` that does not exist is an error (most
likely a typo), not a reason to fall back silently to another copy.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tomoprune.data.catalog import ROLES, IdxDatasetSpec
from tomoprune.errors import DataError

ENV_VAR = "TOMOPRUNE_DATA"


def cache_dir() -> Path:
    """The user cache root: ``$XDG_CACHE_HOME/tomoprune``, else ``~/.cache/tomoprune``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "tomoprune"


def default_download_dir(name: str) -> Path:
    """Where ``tomoprune data download NAME`` writes by default: ``$TOMOPRUNE_DATA/NAME`` when
    that variable is set, else ``<cache>/NAME``; both are searched by :func:`find_idx_files`."""
    env = os.environ.get(ENV_VAR)
    return (Path(env) if env else cache_dir()) / name


@dataclass(frozen=True, kw_only=True)
class SearchRoot:
    """One place searched, and why it is searched (for messages)."""

    path: Path
    origin: str  # "data_dir", "$TOMOPRUNE_DATA", "cache", "system" (or "dest" in messages)
    with_subfolder: bool = True  # also try path / <dataset name>

    def folders(self, name: str) -> tuple[Path, ...]:
        return (self.path / name, self.path) if self.with_subfolder else (self.path,)

    def describe(self, name: str) -> str:
        """E.g. ``cache /home/u/.cache/tomoprune[/mnist]`` (brackets: the optional sub-folder)."""
        labels = {
            "data_dir": "data dir",
            "dest": "download folder",
            "cache": "cache",
            "system": "system package dir",
        }
        where = f"{self.path}[/{name}]" if self.with_subfolder else str(self.path)
        return f"{labels.get(self.origin, self.origin)} {where}"


@dataclass(frozen=True, kw_only=True)
class IdxFiles:
    """The four files of one IDX dataset, found in ``directory``."""

    dataset: str
    directory: Path
    origin: str
    train_images: Path
    train_labels: Path
    test_images: Path
    test_labels: Path

    def paths(self) -> dict[str, Path]:
        """Role -> path, in the order train images, train labels, test images, test labels."""
        return {role: getattr(self, role) for role in ROLES}


def search_roots(
    spec: IdxDatasetSpec,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    system_dirs: Sequence[str | os.PathLike[str]] | None = None,
) -> list[SearchRoot]:
    """The places searched for ``spec``, in order (see the module docstring).

    ``system_dirs`` replaces ``spec.system_dirs`` (tests use it to keep the machine's own
    packages out of the search).
    """
    roots = []
    if data_dir is not None:
        roots.append(SearchRoot(path=Path(data_dir).expanduser(), origin="data_dir"))
    env = os.environ.get(ENV_VAR)
    if env:
        roots.append(SearchRoot(path=Path(env).expanduser(), origin=f"${ENV_VAR}"))
    roots.append(SearchRoot(path=cache_dir(), origin="cache"))
    for folder in spec.system_dirs if system_dirs is None else system_dirs:
        roots.append(SearchRoot(path=Path(folder), origin="system", with_subfolder=False))
    return roots


def find_in_folder(spec: IdxDatasetSpec, folder: Path) -> dict[str, Path]:
    """Role -> path for each of ``spec``'s files present in ``folder`` (any accepted spelling)."""
    found = {}
    for file in spec.files:
        for spelling in file.spellings:
            candidate = folder / spelling
            if candidate.is_file():
                found[file.role] = candidate
                break
    return found


def fix_hint(name: str) -> str:
    """The remedy every 'files not found or broken' message ends with."""
    return (
        f"run `tomoprune data download {name}`, or point --data-dir DIR or ${ENV_VAR} at a "
        "folder holding the four IDX files"
    )


def describe_roots(roots: Sequence[SearchRoot], name: str) -> str:
    """'data dir A[/mnist], $TOMOPRUNE_DATA (not set), cache C[/mnist]' for one-line messages."""
    parts = [root.describe(name) for root in roots]
    if not any(root.origin == f"${ENV_VAR}" for root in roots):
        first_user_root = roots and roots[0].origin in ("data_dir", "dest")
        parts.insert(1 if first_user_root else 0, f"${ENV_VAR} (not set)")
    return ", ".join(parts)


def find_idx_files(
    spec: IdxDatasetSpec,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    system_dirs: Sequence[str | os.PathLike[str]] | None = None,
) -> IdxFiles:
    """Find a folder holding all four files of ``spec``.

    Raises
    ------
    DataError
        ``data_dir`` is given but is not a directory, or no searched folder holds all four
        files; the message names every place searched and how to fix it.
    """
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        raise DataError(
            f"{spec.name}: data directory {data_dir} does not exist; {fix_hint(spec.name)}."
        )
    roots = search_roots(spec, data_dir, system_dirs=system_dirs)
    partial = []
    for root in roots:
        for folder in root.folders(spec.name):
            found = find_in_folder(spec, folder)
            if len(found) == len(ROLES):
                return IdxFiles(dataset=spec.name, directory=folder, origin=root.origin, **found)
            if found:
                missing = [f.archive_name for f in spec.files if f.role not in found]
                partial.append(f"{folder} lacks {', '.join(missing)}")
    detail = f" ({'; '.join(partial)})" if partial else ""
    raise DataError(
        f"{spec.name}: IDX files not found; looked in {describe_roots(roots, spec.name)}"
        f"{detail}; {fix_hint(spec.name)}."
    )
