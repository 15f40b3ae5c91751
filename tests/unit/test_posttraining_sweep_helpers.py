"""The selection helpers (SparseGPT's sweep, Wanda's and magnitude's per-row masks) against numpy's stable argsort (the rule the oracle and
the earlier full-sort code use) on scores with many ties, and the batch-wise Hessian."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tomoprune.posttraining.masks import keep_per_row, smallest_entries, smallest_per_column


def tied_scores(rows: int, columns: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 4, (rows, columns), generator=g).float()


@pytest.mark.parametrize("transposed", [False, True], ids=["contiguous", "transposed-view"])
@pytest.mark.parametrize("count", [0, 1, 7, 20, 39, 40])
def test_smallest_entries_equal_a_stable_argsort_of_the_flattened_scores(count, transposed):
    scores = tied_scores(8, 5, seed=count)
    if transposed:
        scores = scores.reshape(5, 8).T  # same shape, not contiguous
    expected = np.zeros(40, dtype=bool)
    expected[np.argsort(scores.numpy().reshape(-1), kind="stable")[:count]] = True
    assert np.array_equal(smallest_entries(scores, count).numpy().reshape(-1), expected)


@pytest.mark.parametrize("m", [4, 8, 16, 17, 32], ids=lambda m: f"m={m}")
def test_smallest_per_column_equals_a_stable_argsort_of_each_column(m):
    scores = tied_scores(m, 50, seed=m)
    for count in (0, 1, m // 2, m - 1, m):
        expected = np.zeros((m, 50), dtype=bool)
        order = np.argsort(scores.numpy(), axis=0, kind="stable")[:count]
        np.put_along_axis(expected, order, True, axis=0)
        assert np.array_equal(smallest_per_column(scores, count).numpy(), expected)


@pytest.mark.parametrize("density", [0.0, 0.1, 0.37, 0.5, 0.9, 1.0])
def test_keep_per_row_equals_a_stable_descending_argsort_of_each_row(density):
    scores = tied_scores(12, 40, seed=int(density * 100))
    keep = round(density * 40)
    expected = np.zeros((12, 40), dtype=bool)
    order = np.argsort(-scores.numpy(), axis=1, kind="stable")[:, :keep]
    np.put_along_axis(expected, order, True, axis=1)
    assert np.array_equal(keep_per_row(scores, density).numpy(), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_hessian_added_batch_by_batch_equals_the_mean_of_x_xt(dtype):
    from tomoprune.posttraining.statistics import HessianAccumulator

    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 24, generator=g, dtype=dtype)
    acc = HessianAccumulator(24)
    for batch in torch.split(x, 64):  # uneven last batch
        acc.add(batch)
    expected = x.double().numpy().T @ x.double().numpy() / 300
    tolerance = 1e-6 if dtype == torch.float32 else 1e-13
    assert acc.samples == 300 and acc.hessian.dtype == torch.float64
    np.testing.assert_allclose(acc.hessian.numpy(), expected, rtol=tolerance, atol=tolerance)
