"""Size-only null models: Gaussian vectors of the observed lengths, same entropy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tomoprune.analysis.entropy import EntropySettings
from tomoprune.analysis.nullmodels import null_correlation, size_null

PAPER = EntropySettings()


def _vectors(lengths, scale, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, scale, n) for n in lengths]


def test_null_entropy_grows_with_length_and_stays_below_log_n():
    lengths = [2, 8, 32]
    null = size_null(
        _vectors(lengths, 10.0),
        settings=EntropySettings(formula="exact"),
        n_draws=50,
        rng=np.random.default_rng(0),
    )
    assert null.draws.shape == (3, 50)
    assert np.all(np.diff(null.mean) > 0)
    assert np.all(null.draws <= np.log(lengths)[:, None] + 1e-12)
    assert np.all(null.low <= null.median) and np.all(null.median <= null.high)


def test_scales_are_observed_rms_or_one_pooled_rms():
    vecs = [np.array([3.0, -4.0]), np.array([1.0, 1.0, 1.0, 1.0])]
    matched = size_null(vecs, settings=PAPER, n_draws=3, rng=np.random.default_rng(0))
    np.testing.assert_allclose(matched.scales, [math.sqrt(12.5), 1.0])
    fixed = size_null(
        vecs, settings=PAPER, kind="fixed_scale", n_draws=3, rng=np.random.default_rng(0)
    )
    np.testing.assert_allclose(fixed.scales, [math.sqrt(29 / 6)] * 2)
    chosen = size_null(
        vecs,
        settings=PAPER,
        kind="fixed_scale",
        fixed_scale=2.0,
        n_draws=3,
        rng=np.random.default_rng(0),
    )
    np.testing.assert_allclose(chosen.scales, [2.0, 2.0])


def test_missing_vectors_give_an_empty_null_row():
    null = size_null(
        [np.ones(3), None, np.array([np.nan, 1.0])],
        settings=PAPER,
        n_draws=4,
        rng=np.random.default_rng(0),
    )
    assert list(null.lengths) == [3, 0, 0]
    assert np.all(np.isnan(null.draws[1:])) and np.all(np.isfinite(null.draws[0]))
    assert null.per_cycle()[1]["share_undefined"] == 1.0


def test_draws_outside_the_paper_bins_are_undefined_not_zero():
    null = size_null([np.array([900.0])], settings=PAPER, n_draws=200, rng=np.random.default_rng(0))
    assert null.share_undefined[0] > 0.9


def test_seeded_draws_are_reproducible():
    vecs = _vectors([5, 9], 30.0)
    one = size_null(vecs, settings=PAPER, n_draws=20, rng=np.random.default_rng(3))
    two = size_null(vecs, settings=PAPER, n_draws=20, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(one.draws, two.draws)


def test_null_correlates_with_an_accuracy_that_follows_length():
    lengths = np.array([51, 45, 41, 37, 33, 29, 26, 24, 21, 19, 17, 15, 14, 12, 11, 10, 9, 8, 7, 6])
    accuracy = 0.8 + 0.05 * np.log(lengths)
    null = size_null(
        _vectors(lengths, 5.0), settings=PAPER, n_draws=40, rng=np.random.default_rng(0)
    )
    use = np.ones(lengths.size, dtype=bool)
    res = null_correlation(null, accuracy, use=use)
    assert res.r_of_mean > 0.95
    assert res.n_draws_valid == 40 and res.r_draws_low <= res.r_draws_mean <= res.r_draws_high
    assert res.r_draws_mean == pytest.approx(
        np.mean([np.corrcoef(d, accuracy)[0, 1] for d in null.draws.T]), rel=1e-12
    )
