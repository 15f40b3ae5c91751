"""Weight-level compressed sensing: matrix-free FISTA against the exact solver, and recovery."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

from tomoprune.cs.operators import SubsampledDCTOperator
from tomoprune.cs.solvers import solve_l1
from tomoprune.cs.weight_level import weight_level_scores
from tomoprune.errors import ConfigError


@pytest.mark.parametrize("basis", ["dct2", "dct1"])
def test_matrix_free_fista_reaches_the_exact_optimum_of_the_dense_problem(basis):
    weight = np.random.default_rng(0).normal(size=(12, 20))
    scores, info = weight_level_scores(
        weight, fraction=0.3, lam=0.05, seed=3, max_iter=20000, tol=1e-10, basis=basis
    )
    assert info["status"] == "optimal"
    # oracle: the same problem with dense matrices, solved exactly by the homotopy
    m = weight.size
    sensing = SubsampledDCTOperator.from_seed(m=m, n=info["n"], seed=3)
    if basis == "dct2":
        psi = scipy.fft.idct(np.eye(m), type=2, norm="ortho", axis=0)
    else:
        psi = scipy.fft.dct(np.eye(m), type=1, norm="ortho", axis=0)
    A = sensing.to_dense() @ psi  # (n, m)
    exact = solve_l1(A, sensing.matvec(weight.ravel()), 0.05, solver="native")
    assert info["objective"] == pytest.approx(exact.objective, rel=1e-8)
    expected = np.linalg.norm((psi @ exact.coef).reshape(weight.shape), axis=1)
    np.testing.assert_allclose(scores, expected, atol=1e-4 * expected.max())


def test_a_layer_sparse_in_the_dct_is_recovered_from_a_quarter_of_its_entries():
    rng = np.random.default_rng(1)
    units, inputs = 32, 64
    coef = np.zeros(units * inputs)
    coef[rng.choice(coef.size, size=20, replace=False)] = rng.normal(scale=3.0, size=20)
    weight = scipy.fft.idct(coef, type=2, norm="ortho").reshape(units, inputs)
    scores, info = weight_level_scores(
        weight, fraction=0.25, lam=1e-4, seed=0, max_iter=3000, tol=1e-9
    )
    assert info["relative_error"] < 1e-3
    np.testing.assert_allclose(scores, np.linalg.norm(weight, axis=1), rtol=1e-3, atol=1e-6)
    per_weight, _ = weight_level_scores(
        weight, fraction=0.25, lam=1e-4, seed=0, max_iter=3000, tol=1e-9, granularity="weight"
    )
    assert per_weight.shape == (units, inputs)
    np.testing.assert_allclose(per_weight, np.abs(weight), atol=1e-3 * np.abs(weight).max())


def test_default_lambda_is_relative_to_lambda_max_and_recorded():
    weight = np.random.default_rng(2).normal(size=(8, 16))
    _, info = weight_level_scores(weight, fraction=0.5, lam_ratio=0.1, seed=0)
    assert info["lam"] == pytest.approx(0.1 * info["lam_max"])
    _, at_max = weight_level_scores(weight, fraction=0.5, lam=info["lam_max"], seed=0)
    assert at_max["nonzero_coefficients"] == 0


@pytest.mark.parametrize(
    "kwargs",
    [{"granularity": "row"}, {"basis": "wavelet"}, {"fraction": 0.0}, {"lam": -1.0}],
)
def test_bad_settings_raise_config_errors(kwargs):
    with pytest.raises(ConfigError):
        weight_level_scores(np.ones((3, 4)), **kwargs)


def test_non_matrix_weight_is_rejected():
    with pytest.raises(ConfigError, match="2-D"):
        weight_level_scores(np.ones(5))
