"""The real MNIST files in ../shared/data/mnist: load, verify, and serve as a local mirror."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tomoprune.data.catalog import MNIST
from tomoprune.data.checksums import verify_idx_dataset
from tomoprune.data.datasets import load_dataset
from tomoprune.data.download import download_dataset
from tomoprune.data.idx import read_idx

pytestmark = pytest.mark.mnist

# from ../shared/data/mnist/README.md
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return load_dataset("mnist", mnist_dir)


def test_shapes_and_label_counts_match_the_published_dataset(mnist):
    assert mnist.train_x.shape == (60000, 1, 28, 28) and mnist.test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(mnist.train_y, minlength=10).tolist() == TRAIN_COUNTS
    assert torch.bincount(mnist.test_y, minlength=10).tolist() == TEST_COUNTS


def test_normalised_training_images_have_mean_0_and_std_1(mnist):
    # the exact pixel statistics are 0.130660 / 0.308108, the customary constants 0.1307 / 0.3081
    mean, std = mnist.train_x.mean().item(), mnist.train_x.std().item()
    assert mean == pytest.approx((0.130660 - 0.1307) / 0.3081, abs=1e-4)
    assert std == pytest.approx(0.308108 / 0.3081, abs=1e-4)


def test_test_images_are_normalised_bit_exactly(mnist, mnist_dir):
    raw = read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")
    expected = (raw.astype(np.float32) / np.float32(255) - np.float32(0.1307)) / np.float32(0.3081)
    assert np.array_equal(mnist.test_x[:, 0].numpy(), expected)


def test_files_match_the_published_archives(mnist_dir):
    report = verify_idx_dataset(MNIST, mnist_dir)
    assert [check.status for check in report.checks] == ["archive"] * 4
    assert report.counts == {"train": 60000, "test": 10000}


def test_download_from_a_local_mirror_checks_the_real_checksums(mnist_dir, tmp_path):
    dest = download_dataset("mnist", tmp_path / "mnist", mirrors=[mnist_dir.as_uri()])
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert (dest / name).read_bytes() == (mnist_dir / name).read_bytes()
