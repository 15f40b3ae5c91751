"""Datasets: where files are found, how images are normalised, the digits demo, the split."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tomoprune.data.catalog import FASHION_MNIST
from tomoprune.data.datasets import (
    DATASETS,
    load_dataset,
    load_idx_dataset,
    train_validation_split,
)
from tomoprune.data.idx import read_idx, write_idx
from tomoprune.errors import ConfigError, DataError


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    """No $TOMOPRUNE_DATA, and a user cache that starts empty."""
    monkeypatch.delenv("TOMOPRUNE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def copy_dataset(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    return dest


def numpy_normalised(images: np.ndarray, mean: float, std: float) -> np.ndarray:
    """torchvision's ToTensor + Normalize, written out in float32 numpy (IEEE, correctly
    rounded): the oracle for bit-exact normalisation."""
    x = images.astype(np.float32) / np.float32(255)
    return (x - np.float32(mean)) / np.float32(std)


# --- where the files are found ------------------------------------------------------------


def test_explicit_dir_wins_over_environment_and_cache(tiny_idx_dir, tmp_path, monkeypatch):
    explicit = copy_dataset(tiny_idx_dir, tmp_path / "explicit")
    monkeypatch.setenv("TOMOPRUNE_DATA", str(copy_dataset(tiny_idx_dir, tmp_path / "env")))
    copy_dataset(tiny_idx_dir, tmp_path / "xdg-cache" / "tomoprune" / "mnist")
    assert load_dataset("mnist", explicit).source == str(explicit)


def test_environment_wins_over_cache(tiny_idx_dir, tmp_path, monkeypatch):
    env = copy_dataset(tiny_idx_dir, tmp_path / "env")
    monkeypatch.setenv("TOMOPRUNE_DATA", str(env))
    copy_dataset(tiny_idx_dir, tmp_path / "xdg-cache" / "tomoprune" / "mnist")
    assert load_dataset("mnist").source == str(env)


def test_cache_follows_xdg_cache_home(tiny_idx_dir, tmp_path):
    cached = copy_dataset(tiny_idx_dir, tmp_path / "xdg-cache" / "tomoprune" / "mnist")
    assert load_dataset("mnist").source == str(cached)


def test_cache_defaults_to_home_dot_cache(tiny_idx_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cached = copy_dataset(tiny_idx_dir, tmp_path / "home" / ".cache" / "tomoprune" / "mnist")
    assert load_dataset("mnist").source == str(cached)


def test_dataset_subfolder_is_preferred_to_the_folder_itself(tiny_idx_dir, tmp_path):
    root = copy_dataset(tiny_idx_dir, tmp_path / "root")
    copy_dataset(tiny_idx_dir, root / "mnist")
    assert load_dataset("mnist", root).source == str(root / "mnist")


def test_dotted_uncompressed_spelling_is_accepted(tiny_idx_dir, tmp_path):
    folder = tmp_path / "dotted"
    folder.mkdir()
    for path in tiny_idx_dir.iterdir():
        raw_name = path.name.removesuffix(".gz").replace("-idx", ".idx")
        write_idx(folder / raw_name, read_idx(path))
    from_dotted = load_dataset("mnist", folder)
    from_gz = load_dataset("mnist", tiny_idx_dir)
    assert torch.equal(from_dotted.train_x, from_gz.train_x)
    assert torch.equal(from_dotted.test_y, from_gz.test_y)


def test_nothing_found_names_every_place_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TOMOPRUNE_DATA", str(tmp_path / "env"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError) as exc:
        load_dataset("mnist", empty)
    message = str(exc.value)
    assert "\n" not in message
    for place in (str(empty), str(tmp_path / "env"), str(tmp_path / "xdg-cache" / "tomoprune")):
        assert place in message
    assert "tomoprune data download mnist" in message and "--data-dir" in message
    assert "TOMOPRUNE_DATA" in message


def test_incomplete_folder_names_the_missing_files(tiny_idx_dir, tmp_path):
    folder = copy_dataset(tiny_idx_dir, tmp_path / "partial")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"partial lacks t10k-labels-idx1-ubyte\.gz"):
        load_dataset("mnist", folder)


def test_missing_explicit_directory_is_an_error_not_a_fallback(tiny_idx_dir, tmp_path):
    copy_dataset(tiny_idx_dir, tmp_path / "xdg-cache" / "tomoprune" / "mnist")
    with pytest.raises(DataError, match="does not exist; run `tomoprune data download mnist`"):
        load_dataset("mnist", tmp_path / "typo")


def test_fashion_mnist_is_found_in_a_system_folder_after_user_places(
    tiny_idx_dir, tmp_path, monkeypatch
):
    system = copy_dataset(tiny_idx_dir, tmp_path / "usr-share")
    assert load_idx_dataset(FASHION_MNIST, system_dirs=[str(system)]).source == str(system)
    env = copy_dataset(tiny_idx_dir, tmp_path / "env" / "fashion-mnist")
    monkeypatch.setenv("TOMOPRUNE_DATA", str(tmp_path / "env"))
    assert load_idx_dataset(FASHION_MNIST, system_dirs=[str(system)]).source == str(env)


def test_fashion_mnist_looks_where_debian_installs_it():
    assert "/usr/share/datasets/fashion-mnist" in FASHION_MNIST.system_dirs


# --- what is loaded -----------------------------------------------------------------------


def test_mnist_images_are_normalised_bit_exactly_like_torchvision(tiny_idx_dir):
    data = load_dataset("mnist", tiny_idx_dir)
    raw_train = read_idx(tiny_idx_dir / "train-images-idx3-ubyte.gz")
    raw_labels = read_idx(tiny_idx_dir / "t10k-labels-idx1-ubyte.gz")
    assert data.train_x.dtype == torch.float32 and data.train_x.shape == (600, 1, 28, 28)
    assert data.test_x.shape == (200, 1, 28, 28) and data.input_shape == (1, 28, 28)
    assert data.train_y.dtype == torch.int64 and data.test_y.tolist() == raw_labels.tolist()
    assert np.array_equal(data.train_x[:, 0].numpy(), numpy_normalised(raw_train, 0.1307, 0.3081))
    assert (data.mean, data.std, data.num_classes) == (0.1307, 0.3081, 10)


def test_fashion_mnist_uses_its_own_statistics(tiny_idx_dir):
    data = load_idx_dataset(FASHION_MNIST, tiny_idx_dir, system_dirs=[])
    raw = read_idx(tiny_idx_dir / "t10k-images-idx3-ubyte.gz")
    assert (data.name, data.mean, data.std) == ("fashion-mnist", 0.2860, 0.3530)
    assert np.array_equal(data.test_x[:, 0].numpy(), numpy_normalised(raw, 0.2860, 0.3530))


def test_images_without_matching_labels_are_rejected(tiny_idx_dir, tmp_path):
    folder = copy_dataset(tiny_idx_dir, tmp_path / "mismatch")
    labels = folder / "train-labels-idx1-ubyte.gz"
    write_idx(labels, read_idx(labels)[:-1])
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte\.gz holds 600 images but "
        r"train-labels-idx1-ubyte\.gz holds 599 labels",
    ):
        load_dataset("mnist", folder)


def test_labels_out_of_range_are_rejected_on_load(tiny_idx_dir, tmp_path):
    folder = copy_dataset(tiny_idx_dir, tmp_path / "badlabels")
    labels_path = folder / "t10k-labels-idx1-ubyte.gz"
    labels = read_idx(labels_path)
    labels[0] = 10
    write_idx(labels_path, labels)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: 1 label\(s\) outside 0\.\.9"):
        load_dataset("mnist", folder)


def test_unknown_dataset_lists_the_valid_names():
    with pytest.raises(
        ConfigError, match="california-housing, diabetes, digits, fashion-mnist, mnist"
    ):
        load_dataset("cifar10")
    assert DATASETS.names() == [
        "california-housing",
        "diabetes",
        "digits",
        "fashion-mnist",
        "mnist",
    ]


def test_dataset_is_immutable(tiny_idx_dir):
    data = load_dataset("mnist", tiny_idx_dir)
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.name = "other"  # type: ignore[misc]


# --- the bundled digits -------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_digits_has_the_documented_shapes_and_classes(digits):
    assert digits.train_x.shape == (1437, 1, 8, 8) and digits.test_x.shape == (360, 1, 8, 8)
    assert digits.train_x.dtype == torch.float32 and digits.train_y.dtype == torch.int64
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    # stratified: every class in both parts, in proportion
    assert torch.bincount(digits.test_y, minlength=10).min() >= 35
    assert abs(digits.train_x.mean().item()) < 1e-4
    assert digits.train_x.std().item() == pytest.approx(1.0, abs=1e-3)


def test_digits_is_a_split_of_sklearns_images(digits):
    from sklearn.datasets import load_digits

    original = load_digits().images.reshape(-1, 64)  # values 0..16
    ours = torch.cat([digits.train_x, digits.test_x]).reshape(-1, 64).double()
    ours = np.rint((ours * digits.std + digits.mean).numpy() * 16)

    def row_sorted(a):
        return a[np.lexsort(a.T[::-1])]

    assert np.array_equal(row_sorted(ours), row_sorted(original))


def test_digits_loads_identically_every_time(digits):
    again = load_dataset("digits")
    assert torch.equal(again.train_x, digits.train_x) and torch.equal(again.test_y, digits.test_y)
    assert (again.mean, again.std) == (digits.mean, digits.std)


# --- the train / validation split ---------------------------------------------------------


def test_split_is_disjoint_complete_and_keeps_file_order(digits):
    split = train_validation_split(digits, 300, seed=7)
    assert len(split.val_y) == 300 and len(split.train_y) == 1137
    both = torch.cat([split.train_indices, split.val_indices])
    assert torch.equal(both.sort().values, torch.arange(1437))
    assert torch.equal(split.train_indices, split.train_indices.sort().values)
    assert torch.equal(split.val_x, digits.train_x[split.val_indices])
    assert torch.equal(split.train_y, digits.train_y[split.train_indices])


def test_split_depends_only_on_the_seed(digits):
    first = train_validation_split(digits, 100, seed=3)
    assert torch.equal(first.val_indices, train_validation_split(digits, 100, seed=3).val_indices)
    assert not torch.equal(
        first.val_indices, train_validation_split(digits, 100, seed=4).val_indices
    )
    expected = torch.randperm(1437, generator=torch.Generator().manual_seed(3))[:100]
    assert torch.equal(first.val_indices, expected.sort().values)


def test_split_can_leave_samples_unused(digits):
    split = train_validation_split(digits, 100, seed=0, n_train=1000)
    assert len(split.train_y) == 1000 and len(split.val_y) == 100
    assert not set(split.train_indices.tolist()) & set(split.val_indices.tolist())


@pytest.mark.parametrize(
    ("n_validation", "n_train"), [(0, None), (1437, None), (-1, None), (100, 1338)]
)
def test_impossible_split_sizes_are_config_errors(digits, n_validation, n_train):
    with pytest.raises(ConfigError, match="Got"):
        train_validation_split(digits, n_validation, seed=0, n_train=n_train)
