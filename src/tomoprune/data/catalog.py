"""What tomoprune knows about each IDX dataset: file names, checksums, mirrors, statistics.

The checksums are the published ones of the original distribution files: ``md5``/``sha256`` of
the ``.gz`` files as served by the mirrors, and ``raw_md5`` of their decompressed content (so a
copy that was decompressed, or re-compressed as Debian does, can still be verified).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from tomoprune.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class IdxFileSpec:
    """One of the four files of an IDX dataset."""

    role: str  # "train_images", "train_labels", "test_images" or "test_labels"
    stem: str  # canonical name without ".gz", e.g. "train-images-idx3-ubyte"
    md5: str  # of the published .gz file
    raw_md5: str  # of the decompressed IDX content
    sha256: str | None = None  # of the published .gz file, where one is published

    @property
    def archive_name(self) -> str:
        """The name the mirrors serve it under."""
        return f"{self.stem}.gz"

    @property
    def spellings(self) -> tuple[str, ...]:
        """File names accepted on disk, in order of preference: ``x-idx3-ubyte.gz``,
        ``x-idx3-ubyte``, ``x.idx3-ubyte.gz``, ``x.idx3-ubyte``. The published ``.gz`` name
        comes first so that a fresh download is what gets read."""
        dotted = self.stem.replace("-idx", ".idx")
        return (f"{self.stem}.gz", self.stem, f"{dotted}.gz", dotted)


@dataclass(frozen=True, kw_only=True)
class IdxDatasetSpec:
    """Everything needed to find, download, verify and normalise one IDX dataset."""

    name: str  # registry name, also the sub-folder the files are looked for in
    files: tuple[IdxFileSpec, ...]
    mirrors: tuple[str, ...]  # base URLs, tried in order
    mean: float  # pixel mean / 255 of the training images, the customary normalisation
    std: float
    num_classes: int = 10
    image_shape: tuple[int, int] = (28, 28)
    # directories where an operating-system package installs the files
    system_dirs: tuple[str, ...] = ()

    def file(self, role: str) -> IdxFileSpec:
        for spec in self.files:
            if spec.role == role:
                return spec
        raise KeyError(role)


ROLES = ("train_images", "train_labels", "test_images", "test_labels")

MNIST = IdxDatasetSpec(
    name="mnist",
    files=(
        IdxFileSpec(
            role="train_images",
            stem="train-images-idx3-ubyte",
            md5="f68b3c2dcbeaaa9fbdd348bbdeb94873",
            sha256="440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            raw_md5="6bbc9ace898e44ae57da46a324031adb",
        ),
        IdxFileSpec(
            role="train_labels",
            stem="train-labels-idx1-ubyte",
            md5="d53e105ee54ea40749a09fcbcd1e9432",
            sha256="3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            raw_md5="a25bea736e30d166cdddb491f175f624",
        ),
        IdxFileSpec(
            role="test_images",
            stem="t10k-images-idx3-ubyte",
            md5="9fb629c4189551a2d022fa330f9573f3",
            sha256="8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            raw_md5="2646ac647ad5339dbf082846283269ea",
        ),
        IdxFileSpec(
            role="test_labels",
            stem="t10k-labels-idx1-ubyte",
            md5="ec29112dd5afa0611ce80d1b7f02629c",
            sha256="f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            raw_md5="27ae3e4e09519cfbb04c329615203637",
        ),
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    # the values torchvision's examples use; the exact train statistics are 0.130660 / 0.308108
    mean=0.1307,
    std=0.3081,
)

FASHION_MNIST = IdxDatasetSpec(
    name="fashion-mnist",
    files=(
        IdxFileSpec(
            role="train_images",
            stem="train-images-idx3-ubyte",
            md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            raw_md5="f4a8712d7a061bf5bd6d2ca38dc4d50a",
        ),
        IdxFileSpec(
            role="train_labels",
            stem="train-labels-idx1-ubyte",
            md5="25c81989df183df01b3e8a0aad5dffbe",
            raw_md5="9018921c3c673c538a1fc5bad174d6f9",
        ),
        IdxFileSpec(
            role="test_images",
            stem="t10k-images-idx3-ubyte",
            md5="bef4ecab320f06d8554ea6380940ec79",
            raw_md5="8181f5470baa50b63fa0f6fddb340f0a",
        ),
        IdxFileSpec(
            role="test_labels",
            stem="t10k-labels-idx1-ubyte",
            md5="bb300cfdad3c16e7a12a480ee83cd310",
            raw_md5="15d484375f8d13e6eb1aabb0c3f46965",
        ),
    ),
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    mean=0.2860,
    std=0.3530,
    # Debian's dataset-fashion-mnist package (re-compressed .gz; raw content as published)
    system_dirs=("/usr/share/datasets/fashion-mnist",),
)

IDX_DATASETS: MappingProxyType[str, IdxDatasetSpec] = MappingProxyType(
    {spec.name: spec for spec in (MNIST, FASHION_MNIST)}
)


def idx_spec(name: str) -> IdxDatasetSpec:
    """The spec of IDX dataset ``name``, or a ConfigError listing the valid names."""
    try:
        return IDX_DATASETS[name]
    except KeyError:
        valid = ", ".join(sorted(IDX_DATASETS))
        raise ConfigError(f"Unknown IDX dataset {name!r}. Valid names: {valid}.") from None
