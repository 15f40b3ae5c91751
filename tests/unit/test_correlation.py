"""Correlations of per-cycle series and the controls on them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.nonparametric.smoothers_lowess import lowess as sm_lowess

from tomoprune.analysis.correlation import (
    block_bootstrap_ci,
    correlate,
    difference_correlation,
    partial_correlation,
    permutation_pvalue,
    row_correlation,
)
from tomoprune.analysis.smoothing import lowess


def _pair(seed: int, n: int = 40, coupling: float = 1.0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = coupling * a + rng.normal(size=n)
    return a, b


def test_pearson_and_spearman_match_numpy_oracles():
    a, b = _pair(0)
    assert correlate(a, b).r == pytest.approx(np.corrcoef(a, b)[0, 1], rel=1e-12)
    ranks = np.corrcoef(stats.rankdata(a), stats.rankdata(b))[0, 1]
    assert correlate(a, b, method="spearman").r == pytest.approx(ranks, rel=1e-12)


def test_undefined_cycles_are_dropped_and_counted():
    a, b = _pair(1, n=10)
    a[2] = np.nan
    b[7] = np.nan
    res = correlate(a, b, cycles=np.arange(1, 11))
    keep = np.isfinite(a) & np.isfinite(b)
    assert (res.n_used, res.n_dropped, res.dropped_cycles) == (8, 2, (3, 8))
    assert res.r == pytest.approx(np.corrcoef(a[keep], b[keep])[0, 1])


def test_smoothing_uses_lowess_of_the_series_against_x():
    x = np.linspace(0.1, 0.98, 34)
    a = 3 - 2 * x**4
    b = 0.97 - 0.2 * x**8 + np.random.default_rng(2).normal(0, 0.01, 34)
    res = correlate(a, b, x=x, smooth_b=True, frac=0.3)
    oracle = sm_lowess(b, x, frac=0.3)[:, 1]  # x is increasing, so sorted order = input order
    assert res.r == pytest.approx(np.corrcoef(a, oracle)[0, 1], rel=1e-10)
    assert res.smoothed == (False, True) and res.frac == 0.3
    np.testing.assert_allclose(lowess(x, b, 0.3), oracle)


def test_lowess_returns_input_order_and_nan_where_input_missing():
    x = np.array([0.5, 0.1, 0.3, 0.9, 0.7, 0.2])
    y = x**2
    y[2] = np.nan
    out = lowess(x, y, frac=0.9)
    assert np.isnan(out[2]) and np.all(np.isfinite(np.delete(out, 2)))
    order = np.argsort(x)
    keep = np.isfinite(y[order])
    oracle = sm_lowess(y[order][keep], x[order][keep], frac=0.9)[:, 1]
    np.testing.assert_allclose(out[order][keep], oracle)


def test_too_few_or_constant_series_give_none_with_reason():
    assert "only 2" in correlate([1.0, 2.0], [3.0, 1.0]).undefined_reason
    res = correlate([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 5.0])
    assert res.r is None and "constant" in res.undefined_reason


def test_row_correlation_marks_constant_rows_nan():
    r = row_correlation(np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]]), np.array([1.0, 3.0, 2.0]))
    assert np.isnan(r[0]) and r[1] == pytest.approx(0.5)


def test_permutation_pvalue_separates_coupled_from_independent_and_is_seeded():
    a, b = _pair(3, coupling=2.0)
    coupled = permutation_pvalue(a, b, n_resamples=300, rng=np.random.default_rng(0))
    assert coupled.p_value < 0.01
    c, d = _pair(4, coupling=0.0)
    indep = permutation_pvalue(c, d, n_resamples=300, rng=np.random.default_rng(0))
    assert indep.p_value > 0.05
    again = permutation_pvalue(c, d, n_resamples=300, rng=np.random.default_rng(0))
    assert again.p_value == indep.p_value


def test_block_bootstrap_interval_brackets_r_and_is_seeded():
    a, b = _pair(5, coupling=1.0)
    res = block_bootstrap_ci(a, b, n_resamples=400, rng=np.random.default_rng(1))
    assert -1 <= res.low < res.r < res.high <= 1
    assert res.block_length == 3  # round(40 ** (1/3))
    same = block_bootstrap_ci(a, b, n_resamples=400, rng=np.random.default_rng(1))
    assert (same.low, same.high) == (res.low, res.high)
    too_long = block_bootstrap_ci(
        a, b, block_length=41, n_resamples=10, rng=np.random.default_rng(1)
    )
    assert too_long.low is None and "exceeds" in too_long.undefined_reason


def test_differences_remove_a_shared_trend():
    rng = np.random.default_rng(6)
    t = np.linspace(0, 10, 40)
    a = t + rng.normal(0, 0.5, 40)
    b = t + rng.normal(0, 0.5, 40)
    assert correlate(a, b).r > 0.95
    diff = difference_correlation(a, b, cycles=np.arange(1, 41))
    assert diff.n_used == 39 and abs(diff.r) < 0.35 and diff.p_value > 0.05
    assert diff.r == pytest.approx(np.corrcoef(np.diff(a), np.diff(b))[0, 1])


def test_partial_correlation_matches_least_squares_residuals():
    rng = np.random.default_rng(7)
    s = np.linspace(0.1, 0.98, 34)
    a = 2 * s + rng.normal(0, 0.1, 34)
    b = -(s**2) + rng.normal(0, 0.1, 34)
    res = partial_correlation(a, b, s, degree=2)
    design = np.vander(s, 3, increasing=True)
    ra = a - design @ np.linalg.lstsq(design, a, rcond=None)[0]
    rb = b - design @ np.linalg.lstsq(design, b, rcond=None)[0]
    assert res.r == pytest.approx(np.corrcoef(ra, rb)[0, 1], rel=1e-9)
    assert res.dof == 34 - 2 - 2 and 0 < res.p_value <= 1
    assert partial_correlation(a[:3], b[:3], s[:3], degree=1).r is None
