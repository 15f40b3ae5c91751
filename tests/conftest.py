"""Shared fixtures: a tiny synthetic MNIST-like IDX dataset and the real MNIST files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tomoprune.data.idx import write_idx

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist"
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def blob_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N,) labels -> (N, 28, 28) uint8 images: one bright blob per image, at a position set
    by the class (ten centres on a circle) plus jitter, over noisy background. Easy to learn,
    but not trivially separable pixel by pixel."""
    n = len(labels)
    angles = 2 * np.pi * np.arange(10) / 10
    centres = 13.5 + 8.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (10, 2)
    xy = centres[labels] + rng.normal(0.0, 1.2, size=(n, 2))  # (N, 2)
    rows, cols = np.mgrid[0:28, 0:28]  # (28, 28) each
    dist2 = (cols[None] - xy[:, 0, None, None]) ** 2 + (rows[None] - xy[:, 1, None, None]) ** 2
    images = 230.0 * np.exp(-dist2 / (2 * 2.5**2)) + rng.normal(0.0, 20.0, size=(n, 28, 28))
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def write_tiny_idx_dataset(
    folder: Path, *, n_train: int = 600, n_test: int = 200, seed: int = 0
) -> Path:
    """Write a learnable MNIST-like dataset as the four canonical ``.gz`` IDX files."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)  # balanced classes
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", blob_images(labels, rng))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


@pytest.fixture(scope="session")
def tiny_idx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a tiny MNIST-like dataset: 600 train / 200 test 28x28 images, 10 balanced
    classes, seeded; load it with ``load_dataset("mnist", tiny_idx_dir)``. Treat as read-only."""
    return write_tiny_idx_dataset(tmp_path_factory.mktemp("tiny_idx"))


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST IDX files in ``../shared/data/mnist``; skips the test when absent."""
    if not all((SHARED_MNIST / name).is_file() for name in MNIST_FILES):
        pytest.skip(f"real MNIST files not found in {SHARED_MNIST}")
    return SHARED_MNIST


@pytest.fixture(scope="session")
def synthetic_task():
    """A small learnable classification task (1000 samples of 5x5, 4 classes) with a
    validation split, for loop-level tests that need no files."""
    from tomoprune.engine.task import Task

    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 1, 5, 5, generator=g)
    y = x.flatten(1)[:, :4].argmax(dim=1)
    return Task(
        name="synthetic",
        train_x=x[:700],
        train_y=y[:700],
        val_x=x[700:850],
        val_y=y[700:850],
        test_x=x[850:],
        test_y=y[850:],
        input_shape=(1, 5, 5),
        num_outputs=4,
    )
