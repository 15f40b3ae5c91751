"""Sensing matrices, the DCT-I basis and their matrix-free forms, checked against dense oracles."""

from __future__ import annotations

import numpy as np
import pytest

from tomoprune.cs.operators import (
    SubsampledDCTOperator,
    compressed_sensing_operator,
    dct_basis,
    gaussian_sensing_matrix,
    measurement_count,
    sensing_times_basis,
)
from tomoprune.errors import ConfigError


def dct1_by_formula(m: int) -> np.ndarray:
    """Orthonormal DCT-I from its textbook definition (independent of scipy)."""
    if m == 1:
        return np.ones((1, 1))
    k = np.arange(m)
    edge = np.where((k == 0) | (k == m - 1), 1 / np.sqrt(2), 1.0)
    return np.sqrt(2 / (m - 1)) * np.outer(edge, edge) * np.cos(np.pi * np.outer(k, k) / (m - 1))


@pytest.mark.parametrize("m", [1, 2, 3, 11, 64])
def test_dct_basis_matches_the_textbook_dct1_and_is_symmetric_orthonormal(m):
    psi = dct_basis(m)
    np.testing.assert_allclose(psi, dct1_by_formula(m), atol=1e-12)
    np.testing.assert_allclose(psi, psi.T, atol=1e-14)
    np.testing.assert_allclose(psi @ psi.T, np.eye(m), atol=1e-12)


def test_legacy_random_state_draws_what_the_published_global_seed_drew():
    saved = np.random.get_state()
    try:
        np.random.seed(42424242)
        published = np.random.normal(size=(51, 512))
    finally:
        np.random.set_state(saved)
    ours = gaussian_sensing_matrix(51, 512, np.random.RandomState(42424242))
    np.testing.assert_array_equal(ours, published)


def test_generator_sensing_matrix_is_seeded_standard_normal():
    a = gaussian_sensing_matrix(7, 30, np.random.default_rng(3))
    b = np.random.default_rng(3).standard_normal((7, 30))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match="RandomState or Generator"):
        gaussian_sensing_matrix(2, 3, 42)


@pytest.mark.parametrize(("m", "n"), [(512, 51), (460, 45), (414, 41), (11, 1), (20, 1)])
def test_reference_measurement_count_repeats_the_published_rounding(m, n):
    assert measurement_count(m, 0.1, "reference") == n


def test_reference_rule_at_width_ten_raises_a_config_error_naming_width_and_fix():
    with pytest.raises(ConfigError, match=r"Width 10 .*measurement_rule=round"):
        measurement_count(10, 0.1, "reference")


@pytest.mark.parametrize(("m", "n"), [(460, 46), (512, 51), (10, 1), (4, 1)])
def test_round_rule_rounds_and_never_gives_zero(m, n):
    assert measurement_count(m, 0.1, "round") == n


@pytest.mark.parametrize(
    ("m", "fraction", "rule"), [(10, 0.0, "round"), (10, 1.5, "round"), (10, 0.1, "floor")]
)
def test_measurement_count_rejects_bad_settings(m, fraction, rule):
    with pytest.raises(ConfigError):
        measurement_count(m, fraction, rule)


@pytest.mark.parametrize("m", [1, 2, 57, 512])
def test_row_wise_dct_equals_dense_sensing_times_basis(m):
    phi = np.random.default_rng(m).standard_normal((max(1, m // 10), m))
    np.testing.assert_allclose(sensing_times_basis(phi), phi @ dct_basis(m), atol=1e-10)


def test_compressed_sensing_operator_applies_phi_psi_and_its_adjoint():
    rng = np.random.default_rng(0)
    phi = rng.standard_normal((9, 90))
    dense = phi @ dct_basis(90)
    op = compressed_sensing_operator(phi)
    w, r = rng.standard_normal(90), rng.standard_normal(9)
    np.testing.assert_allclose(op.matvec(w), dense @ w, atol=1e-10)
    np.testing.assert_allclose(op.rmatvec(r), dense.T @ r, atol=1e-10)


def test_subsampled_dct_has_orthogonal_rows_of_norm_m_over_n_and_a_true_adjoint():
    op = SubsampledDCTOperator.from_seed(m=64, n=16, seed=5)
    dense = op.to_dense()  # (16, 64)
    np.testing.assert_allclose(dense @ dense.T, (64 / 16) * np.eye(16), atol=1e-10)
    assert np.linalg.norm(dense, 2) == pytest.approx(op.norm)
    rng = np.random.default_rng(1)
    x, z = rng.standard_normal(64), rng.standard_normal(16)
    assert op.matvec(x) @ z == pytest.approx(x @ op.rmatvec(z))
    np.testing.assert_allclose(op.rmatvec(z), dense.T @ z, atol=1e-10)


def test_subsampled_dct_is_determined_by_its_seed():
    a = SubsampledDCTOperator.from_seed(m=50, n=10, seed=9)
    b = SubsampledDCTOperator.from_seed(m=50, n=10, seed=9)
    c = SubsampledDCTOperator.from_seed(m=50, n=10, seed=10)
    np.testing.assert_array_equal(a.to_dense(), b.to_dense())
    assert not np.array_equal(a.to_dense(), c.to_dense())
    with pytest.raises(ConfigError):
        SubsampledDCTOperator.from_seed(m=5, n=6, seed=0)
