"""Storage sizes of a sparse model, counted by hand, and the CSR export round trip."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from tomoprune.methods.l0.sparse_export import (
    read_sparse_export,
    storage_report,
    tensor_storage,
    write_sparse_export,
)

# 3 x 4 with 5 non-zeros: row counts 2, 0, 3
MATRIX = torch.tensor([[1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0], [3.0, 4.0, 0.0, 5.0]])


def test_sizes_of_a_hand_made_sparse_matrix():
    size = tensor_storage("w", MATRIX)
    assert (size.numel, size.nnz) == (12, 5)
    assert size.dense_bytes == 12 * 4
    assert size.csr_bytes == 5 * 4 + 5 * 4 + (3 + 1) * 4  # values, column indices, row pointers
    assert size.bitmask_bytes == 2 + 5 * 4  # 12 presence bits round up to 2 bytes


def test_conv_kernels_count_as_rows_of_flattened_kernels():
    kernel = torch.zeros(4, 2, 3, 3)
    kernel[1, 0, 1, 1] = 1.0
    size = tensor_storage("conv", kernel)
    assert size.csr_bytes == 1 * 8 + (4 + 1) * 4
    assert size.bitmask_bytes == math.ceil(72 / 8) + 4


def model_with(matrix, bias):
    model = nn.Sequential(nn.Linear(4, 3))
    with torch.no_grad():
        model[0].weight.copy_(matrix)
        model[0].bias.copy_(bias)
    return model


def test_model_report_adds_up_and_gives_the_compression_ratio():
    model = model_with(MATRIX, torch.tensor([0.0, 7.0, 0.0]))
    report = storage_report(model)
    assert (report.parameters, report.nonzero) == (15, 6)
    assert report.compression_ratio == pytest.approx(15 / 6)
    assert report.pruned_fraction == pytest.approx(1 - 6 / 15)
    assert report.dense_bytes == 60
    assert report.csr_bytes == (5 * 8 + 4 * 4) + (1 * 8 + 2 * 4)  # bias is one row
    assert report.bitmask_bytes == (2 + 20) + (1 + 4)


def test_sparse_export_round_trips_and_stores_only_the_nonzeros(tmp_path):
    model = model_with(MATRIX, torch.tensor([0.0, 7.0, 0.0]))
    path = tmp_path / "model.sparse.safetensors"
    size = write_sparse_export(model, path)
    assert size == path.stat().st_size
    restored = read_sparse_export(path)
    np.testing.assert_array_equal(restored["0.weight"], MATRIX.numpy())
    np.testing.assert_array_equal(restored["0.bias"], [0.0, 7.0, 0.0])
    from safetensors.numpy import load_file

    arrays = load_file(str(path))
    assert arrays["0.weight.data"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert arrays["0.weight.indices"].tolist() == [0, 3, 0, 1, 3]
    assert arrays["0.weight.indptr"].tolist() == [0, 2, 2, 5]
