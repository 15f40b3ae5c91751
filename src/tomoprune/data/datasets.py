"""Datasets as normalised tensors: MNIST, Fashion-MNIST and the bundled offline ``digits``.

Images are normalised once, at load, so every consumer sees the same numbers. For the IDX
datasets the arithmetic is exactly torchvision's ``ToTensor()`` followed by ``Normalize(mean,
std)`` in float32 (divide by 255, subtract the float32 mean, divide by the float32 std), so a
published torchvision run can be reproduced bit for bit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from tomoprune.data import idx
from tomoprune.data.catalog import FASHION_MNIST, MNIST, IdxDatasetSpec
from tomoprune.data.locate import find_idx_files, fix_hint
from tomoprune.errors import ConfigError, DataError
from tomoprune.registry import Registry

DataDir = str | os.PathLike[str] | None
DIGITS_TEST_SIZE = 360  # of 1797 images: 1437 train / 360 test, every class in both
DIGITS_SPLIT_SEED = 0


@dataclass(frozen=True, kw_only=True, eq=False)
class Dataset:
    """A classification dataset, normalised and ready for training.

    Attributes
    ----------
    name
        The registry name (``"mnist"``, ``"fashion-mnist"``, ``"digits"``).
    train_x, test_x
        float32 tensors of shape (N, C, H, W), already normalised with ``mean``/``std``
        (``flattened()``: (N, C * H * W); ``as_images()`` turns them back).
    train_y, test_y
        int64 tensors of shape (N,), values in ``0 .. num_classes - 1``.
    num_classes
        Number of classes.
    input_shape
        (C, H, W) of one image.
    mean, std
        The pixel statistics (of images scaled to [0, 1]) used to normalise.
    source
        Where the data came from: the folder of the IDX files, or the package that ships it.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    input_shape: tuple[int, int, int]
    mean: float
    std: float
    source: str
    # "regression": targets are float32 (N, outputs), ``num_classes`` is the output count
    kind: str = "classification"

    @property
    def inputs(self) -> int:
        """Features of one sample once flattened (C * H * W)."""
        return math.prod(self.input_shape)

    def flattened(self) -> Dataset:
        """The same data with x as (N, features) rows (for a plain MLP without Flatten)."""
        return replace(
            self,
            train_x=self.train_x.reshape(self.train_x.shape[0], -1),
            test_x=self.test_x.reshape(self.test_x.shape[0], -1),
        )

    def as_images(self) -> Dataset:
        """The same data with x as (N, *input_shape), undoing ``flattened`` (for a CNN)."""
        return replace(
            self,
            train_x=self.train_x.reshape(self.train_x.shape[0], *self.input_shape),
            test_x=self.test_x.reshape(self.test_x.shape[0], *self.input_shape),
        )


DatasetLoader = Callable[[DataDir], Dataset]
DATASETS: Registry[DatasetLoader] = Registry("dataset")


def load_dataset(name: str, data_dir: DataDir = None) -> Dataset:
    """Load dataset ``name`` (see ``DATASETS.names()``), normalised, as a :class:`Dataset`.

    Parameters
    ----------
    name
        ``"mnist"``, ``"fashion-mnist"`` or ``"digits"`` (bundled with scikit-learn, offline).
    data_dir
        Folder to look in first for IDX files (ignored by ``digits``); see
        :mod:`tomoprune.data.locate` for the full search order.

    Raises
    ------
    ConfigError
        Unknown name.
    DataError
        Files missing or invalid; the message names the file, the problem and the fix.
    """
    return DATASETS.get(name)(data_dir)


def normalise_uint8_images(images: np.ndarray, mean: float, std: float) -> torch.Tensor:
    """(N, H, W) uint8 -> (N, 1, H, W) float32, as torchvision's ToTensor + Normalize compute it.

    ToTensor converts to float32 and divides by 255; Normalize subtracts and divides by float32
    tensors holding ``mean`` and ``std``. Doing it in place on the whole batch gives the same bits
    as doing it image by image, because each element sees the same three float32 operations.
    """
    x = torch.from_numpy(images).unsqueeze(1).to(torch.float32)  # (N, 1, H, W)
    x.div_(255)
    x.sub_(torch.tensor(mean, dtype=torch.float32))
    x.div_(torch.tensor(std, dtype=torch.float32))
    return x


def load_idx_dataset(
    spec: IdxDatasetSpec, data_dir: DataDir = None, *, system_dirs: list[str] | None = None
) -> Dataset:
    """Find, read, validate and normalise the four IDX files of ``spec``.

    ``system_dirs`` replaces the spec's operating-system folders in the search (for tests).
    """
    files = find_idx_files(spec, data_dir, system_dirs=system_dirs)
    fix = fix_hint(spec.name)
    arrays = {}
    for split in ("train", "test"):
        images_path = getattr(files, f"{split}_images")
        labels_path = getattr(files, f"{split}_labels")
        images = idx.read_images(images_path, image_shape=spec.image_shape, fix=fix)
        labels = idx.read_labels(labels_path, num_classes=spec.num_classes, fix=fix)
        idx.check_pair(images, labels, images_path, labels_path, fix=fix)
        arrays[f"{split}_x"] = normalise_uint8_images(images, spec.mean, spec.std)
        arrays[f"{split}_y"] = torch.from_numpy(labels).to(torch.int64)
    return Dataset(
        name=spec.name,
        num_classes=spec.num_classes,
        input_shape=(1, *spec.image_shape),
        mean=spec.mean,
        std=spec.std,
        source=str(files.directory),
        **arrays,
    )


@DATASETS.register("mnist")
def load_mnist(data_dir: DataDir = None) -> Dataset:
    """MNIST (LeCun et al.), 60,000/10,000 images of 28x28, mean 0.1307, std 0.3081."""
    return load_idx_dataset(MNIST, data_dir)


@DATASETS.register("fashion-mnist")
def load_fashion_mnist(data_dir: DataDir = None) -> Dataset:
    """Fashion-MNIST (Xiao et al., 2017), same layout as MNIST, mean 0.2860, std 0.3530."""
    return load_idx_dataset(FASHION_MNIST, data_dir)


@DATASETS.register("digits")
def load_digits(data_dir: DataDir = None) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 images, values 0..16): a dataset that needs no
    download, for demos and fast tests.

    Split stratified by class with a fixed seed into 1437 train / 360 test images, scaled to
    [0, 1] by dividing by 16, then normalised with the train split's pixel mean and std.
    ``data_dir`` is ignored: the data ships inside the installed scikit-learn.
    """
    import sklearn
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    images = bunch.images  # (1797, 8, 8) float64, integer values 0..16
    train_img, test_img, train_y, test_y = train_test_split(
        images,
        bunch.target,
        test_size=DIGITS_TEST_SIZE,
        stratify=bunch.target,
        random_state=DIGITS_SPLIT_SEED,
    )
    scaled_train = train_img / 16.0
    mean, std = float(scaled_train.mean()), float(scaled_train.std())

    def normalise(img: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(img).unsqueeze(1).to(torch.float32)  # (N, 1, 8, 8)
        return x.div_(16).sub_(mean).div_(std)

    return Dataset(
        name="digits",
        train_x=normalise(train_img),
        train_y=torch.from_numpy(train_y).to(torch.int64),
        test_x=normalise(test_img),
        test_y=torch.from_numpy(test_y).to(torch.int64),
        num_classes=10,
        input_shape=(1, 8, 8),
        mean=mean,
        std=std,
        source=f"sklearn.datasets.load_digits (scikit-learn {sklearn.__version__})",
    )


REGRESSION_TEST_FRACTION = 0.2  # the greedy-compression paper's 80 % / 20 % split


def regression_dataset(
    name: str, features: np.ndarray, targets: np.ndarray, source: str
) -> Dataset:
    """A tabular regression set split 80/20 with a fixed seed; features and the target are
    standardised with the training part's mean and standard deviation."""
    from sklearn.model_selection import train_test_split

    train_x, test_x, train_y, test_y = train_test_split(
        features, targets, test_size=REGRESSION_TEST_FRACTION, random_state=DIGITS_SPLIT_SEED
    )
    mean, std = train_x.mean(0), train_x.std(0) + 1e-12
    y_mean, y_std = train_y.mean(), train_y.std()

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    return Dataset(
        name=name,
        train_x=tensor((train_x - mean) / std),
        train_y=tensor(((train_y - y_mean) / y_std)[:, None]),
        test_x=tensor((test_x - mean) / std),
        test_y=tensor(((test_y - y_mean) / y_std)[:, None]),
        num_classes=1,
        input_shape=(features.shape[1],),
        mean=float(y_mean),
        std=float(y_std),
        source=source,
        kind="regression",
    )


@DATASETS.register("diabetes")
def load_diabetes(data_dir: DataDir = None) -> Dataset:
    """scikit-learn's bundled diabetes regression set (442 patients, 10 features): offline."""
    import sklearn
    from sklearn.datasets import load_diabetes as sklearn_diabetes

    bunch = sklearn_diabetes()
    source = f"sklearn.datasets.load_diabetes (scikit-learn {sklearn.__version__})"
    return regression_dataset("diabetes", bunch.data, bunch.target, source)


@DATASETS.register("california-housing")
def load_california_housing(data_dir: DataDir = None) -> Dataset:
    """California Housing (20,640 districts, 8 features) from scikit-learn's data cache
    (``data_dir`` overrides the cache folder); never downloads."""
    import sklearn
    from sklearn.datasets import fetch_california_housing

    try:
        bunch = fetch_california_housing(data_home=data_dir, download_if_missing=False)
    except OSError:
        raise DataError(
            "California Housing is not in scikit-learn's data cache; fetch it once with "
            "`python -c 'import sklearn.datasets as d; d.fetch_california_housing()'` on a "
            "machine with network access, or use --dataset diabetes (bundled)."
        ) from None
    source = f"sklearn.datasets.fetch_california_housing cache (scikit-learn {sklearn.__version__})"
    return regression_dataset("california-housing", bunch.data, bunch.target, source)


@dataclass(frozen=True, kw_only=True, eq=False)
class TrainValidationSplit:
    """A dataset's training split carved into train and validation parts.

    ``train_indices`` and ``val_indices`` index the original ``train_x``; each is sorted, so
    both parts keep the file's order (a fixed-order, unshuffled training run stays so).
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    train_indices: torch.Tensor
    val_indices: torch.Tensor


def train_validation_split(
    dataset: Dataset, n_validation: int, seed: int, *, n_train: int | None = None
) -> TrainValidationSplit:
    """Hold ``n_validation`` random training samples out for validation, reproducibly.

    With ``order = torch.randperm(N, generator=torch.Generator().manual_seed(seed))``, the
    validation part is ``order[:n_validation]`` and the train part the next ``n_train`` entries
    (all the rest when ``n_train`` is None). The same seed always gives the same split, e.g.
    MNIST's 60,000 -> 55,000 + 5,000, or with ``n_train=45_000`` 45,000 + 5,000 with 10,000
    left unused.

    Raises
    ------
    ConfigError
        The sizes do not fit in the N training samples.
    """
    n = len(dataset.train_y)
    if not 0 < n_validation < n:
        suggestion = max(1, n // 10)
        raise ConfigError(
            f"The 'data.validation_size' setting must be between 1 and {n - 1} for "
            f"{dataset.name} ({n} training samples). Got {n_validation} instead; change it with "
            f"--set data.validation_size=VALUE (e.g. {suggestion}) and --set "
            "data.train_size=none (all the rest)."
        )
    rest = n - n_validation
    if n_train is not None and not 0 < n_train <= rest:
        raise ConfigError(
            f"The 'data.train_size' setting must be between 1 and {rest} for {dataset.name} "
            f"({n} training samples, {n_validation} for validation). Got {n_train} instead; "
            "change it with --set data.train_size=VALUE (none: all the rest)."
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val_indices = order[:n_validation].sort().values
    train_indices = order[n_validation : n_validation + (rest if n_train is None else n_train)]
    train_indices = train_indices.sort().values
    return TrainValidationSplit(
        train_x=dataset.train_x[train_indices],
        train_y=dataset.train_y[train_indices],
        val_x=dataset.train_x[val_indices],
        val_y=dataset.train_y[val_indices],
        train_indices=train_indices,
        val_indices=val_indices,
    )
