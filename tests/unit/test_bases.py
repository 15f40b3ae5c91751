"""The sparsifying-basis registry: every basis orthonormal, DCT-I the published one."""

import numpy as np
import pytest
import pywt

from tomoprune.cs.bases import BASES, dense_matrix, get_basis
from tomoprune.cs.operators import dct_basis, sensing_times_basis
from tomoprune.errors import ConfigError


@pytest.mark.parametrize("name", BASES.names())
@pytest.mark.parametrize("m", [1, 2, 9, 45, 64, 115])
def test_every_basis_is_orthonormal_and_analysis_inverts_synthesis(name, m):
    basis = get_basis(name, m, seed=3)
    psi = dense_matrix(basis, m)
    np.testing.assert_allclose(psi.T @ psi, np.eye(m), atol=1e-12)
    x = np.random.default_rng(m).standard_normal((3, m))
    np.testing.assert_allclose(basis.synthesis(basis.analysis(x, 1), 1), x, atol=1e-12)
    np.testing.assert_allclose(basis.analysis(x, 1), x @ psi, atol=1e-12)


def test_default_basis_is_the_published_dct1_bit_for_bit():
    phi = np.random.default_rng(0).standard_normal((5, 46))
    assert np.array_equal(sensing_times_basis(phi, get_basis("dct1", 46)), sensing_times_basis(phi))
    np.testing.assert_allclose(sensing_times_basis(phi), phi @ dct_basis(46), atol=1e-12)


def test_haar_equals_pywavelets_full_decomposition_on_a_power_of_two():
    x = np.random.default_rng(1).standard_normal(16)
    oracle = np.concatenate(pywt.wavedec(x, "haar", mode="periodization"))
    np.testing.assert_allclose(get_basis("haar", 16).analysis(x, 0), oracle, atol=1e-12)


def test_random_orthogonal_basis_depends_on_its_seed_only():
    a = dense_matrix(get_basis("random_orthogonal", 20, seed=1), 20)
    b = dense_matrix(get_basis("random_orthogonal", 20, seed=1), 20)
    c = dense_matrix(get_basis("random_orthogonal", 20, seed=2), 20)
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_unknown_basis_and_too_large_dense_basis_are_refused():
    with pytest.raises(ConfigError, match="Valid names"):
        get_basis("wavelet", 8)
    with pytest.raises(ConfigError, match="dense"):
        get_basis("random_orthogonal", 100_000)


def test_dtc_refuses_an_unknown_basis_naming_the_setting():
    from tomoprune.methods import METHOD_REGISTRY
    from tomoprune.runs.resolve import resolve_run_config

    with pytest.raises(ConfigError, match="method.basis"):
        config = resolve_run_config("dtc", overrides={"method.basis": "wavelet"})
        METHOD_REGISTRY.get("dtc").build(config.params, config)
