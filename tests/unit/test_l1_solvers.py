"""l1 solvers on canonical problems with known solutions and against an interior-point oracle."""

from __future__ import annotations

import numpy as np
import pytest

from tomoprune.cs.operators import (
    dct_basis,
    gaussian_sensing_matrix,
    measurement_count,
    sensing_times_basis,
)
from tomoprune.cs.solvers import L1Result, duality_gap, lambda_max, objective, solve_l1
from tomoprune.cs.solvers.cvxpy_adapter import map_status
from tomoprune.errors import ConfigError, SolverError
from tomoprune.reproduce.paper import default_reference_path, load_reference_run

ALL_SOLVERS = ["native", "lasso_lars", "clarabel", "scs"]
EXACT_SOLVERS = ["native", "lasso_lars"]


def dtc_problem(m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A problem shaped as DTC builds it: Gaussian Phi, DCT-I basis, a weight-ray signal."""
    rng = np.random.default_rng(seed)
    n = max(1, m // 10)
    weights = rng.normal(scale=np.sqrt(2 / (m + 784)), size=(m, 784))  # Xavier-normal
    ray = weights.sum(axis=1)  # (m,) incoming weight ray
    phi = gaussian_sensing_matrix(n, m, rng)
    return sensing_times_basis(phi), phi @ ray


def soft_threshold(z: np.ndarray, t: float) -> np.ndarray:
    return np.sign(z) * np.maximum(np.abs(z) - t, 0.0)


@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_orthonormal_design_gives_soft_thresholding_at_half_lambda(solver):
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    y = rng.standard_normal(20)
    lam = 0.8
    expected = soft_threshold(q.T @ y, lam / 2)
    result = solve_l1(q, y, lam, solver=solver)
    atol = 1e-8 if solver in EXACT_SOLVERS else 1e-3
    np.testing.assert_allclose(result.coef, expected, atol=atol)
    assert isinstance(result, L1Result) and result.solver == solver


@pytest.mark.parametrize("solver", EXACT_SOLVERS)
def test_lambda_at_or_above_lambda_max_gives_exactly_zero(solver):
    A, y = dtc_problem(64, seed=1)
    lam = lambda_max(A, y) * 1.000001
    result = solve_l1(A, y, lam, solver=solver)
    assert not np.any(result.coef)
    assert result.objective == pytest.approx(float(y @ y))
    assert result.duality_gap == pytest.approx(0.0, abs=1e-9 * float(y @ y))


@pytest.mark.parametrize(("m", "seed"), [(40, 0), (128, 1), (128, 2), (512, 3)])
def test_native_objective_is_no_worse_than_the_best_oracle(m, seed):
    A, y = dtc_problem(m, seed)
    lam = 0.3
    native = solve_l1(A, y, lam, solver="native")
    oracles = [solve_l1(A, y, lam, solver=s) for s in ("clarabel", "lasso_lars")]
    best = min(r.objective for r in oracles)
    assert native.objective <= best * (1 + 1e-6)
    assert native.status == "optimal"
    assert native.duality_gap <= 1e-8 * native.objective
    clarabel = oracles[0]
    assert np.abs(native.coef - clarabel.coef).max() <= 1e-4 * np.abs(clarabel.coef).max()
    # the exact path keeps at most n coefficients
    assert np.count_nonzero(native.coef) <= A.shape[0]


@pytest.mark.parametrize("seed", range(4))
def test_native_matches_the_oracle_on_wide_square_and_tall_problems(seed):
    """Random shapes and weights, lam = 0 (least squares / interpolation) included."""
    rng = np.random.default_rng(seed)
    for _ in range(12):
        n, m = int(rng.integers(1, 25)), int(rng.integers(1, 40))
        A = rng.standard_normal((n, m))
        y = rng.standard_normal(n) * float(rng.choice([0.01, 1.0, 100.0]))
        lam = float(rng.choice([0.0, 1e-4, 0.3, 3.0]))
        native = solve_l1(A, y, lam, solver="native")
        oracle = solve_l1(A, y, lam, solver="clarabel")
        assert native.status == "optimal", (n, m, lam)
        assert native.objective <= oracle.objective * (1 + 1e-6) + 1e-9, (n, m, lam)


def test_degenerate_columns_still_give_an_honest_answer():
    """With duplicated columns the minimiser is not unique; the result must stay truthful."""
    rng = np.random.default_rng(11)
    for _ in range(20):
        A = rng.standard_normal((12, 30))
        A[:, 1] = A[:, 0]
        A[:, 5] = -2.0 * A[:, 4]
        y = rng.standard_normal(12) * 10
        native = solve_l1(A, y, 1e-3, solver="native")
        best = solve_l1(A, y, 1e-3, solver="clarabel").objective
        excess = native.objective - best
        if native.status == "optimal":
            assert excess <= 1e-6 * best
        assert native.duality_gap >= excess - 1e-7 * best  # the gap bounds the excess


def test_scs_default_is_close_but_less_accurate_than_the_exact_path():
    A, y = dtc_problem(128, seed=4)
    native = solve_l1(A, y, 0.3, solver="native")
    scs = solve_l1(A, y, 0.3, solver="scs")
    assert scs.status in ("optimal", "optimal_inaccurate")
    assert scs.objective >= native.objective * (1 - 1e-9)
    assert scs.objective <= native.objective * (1 + 1e-2)


def test_sparse_dct_coefficients_are_recovered_from_gaussian_measurements():
    rng = np.random.default_rng(7)
    m, n = 128, 48
    w_true = np.zeros(m)
    w_true[rng.choice(m, size=5, replace=False)] = rng.choice([-1, 1], size=5) * rng.uniform(
        2, 5, size=5
    )
    phi = gaussian_sensing_matrix(n, m, rng)
    y = phi @ (dct_basis(m) @ w_true)  # measure the synthesised signal
    result = solve_l1(sensing_times_basis(phi), y, 1e-3, solver="native")
    np.testing.assert_allclose(result.coef, w_true, atol=1e-3)


def test_duality_gap_bounds_suboptimality_and_vanishes_at_the_optimum():
    A, y = dtc_problem(128, seed=5)
    lam = 0.3
    best = solve_l1(A, y, lam, solver="clarabel").objective
    for w in (np.zeros(A.shape[1]), np.random.default_rng(0).normal(size=A.shape[1]) * 0.01):
        gap = duality_gap(A, y, lam, w)
        assert gap >= objective(A, y, lam, w) - best - 1e-9
    exact = solve_l1(A, y, lam, solver="native")
    assert exact.duality_gap <= 1e-9 * exact.objective


def test_native_warm_start_from_the_solution_takes_one_step():
    A, y = dtc_problem(256, seed=6)
    cold = solve_l1(A, y, 0.3, solver="native")
    warm = solve_l1(A, y, 0.3, solver="native", warm_start=cold.coef)
    assert warm.iterations == 1
    np.testing.assert_allclose(warm.coef, cold.coef, atol=1e-9)
    # a wrong warm start still ends at the optimum
    wrong = solve_l1(A, y, 0.3, solver="native", warm_start=-cold.coef)
    assert wrong.objective == pytest.approx(cold.objective, rel=1e-10)
    # a warm start of another length (previous, wider cycle) is ignored
    other = solve_l1(A, y, 0.3, solver="native", warm_start=np.ones(A.shape[1] + 3))
    assert other.objective == pytest.approx(cold.objective, rel=1e-10)


@pytest.mark.parametrize("solver", ["native", "lasso_lars"])
def test_iteration_cap_is_reported_as_max_iterations(solver):
    A, y = dtc_problem(256, seed=8)
    result = solve_l1(A, y, 0.3, solver=solver, max_iter=2)
    assert result.status == "max_iterations"
    assert result.duality_gap > 1e-6 * result.objective


@pytest.mark.parametrize(
    ("cvxpy_status", "ours"),
    [
        ("optimal", "optimal"),
        ("optimal_inaccurate", "optimal_inaccurate"),
        ("user_limit", "max_iterations"),
        ("infeasible", "failed"),
        ("unbounded_inaccurate", "failed"),
        (None, "failed"),
    ],
)
def test_cvxpy_statuses_map_onto_the_fixed_vocabulary(cvxpy_status, ours):
    assert map_status(cvxpy_status) == ours


def test_unknown_solver_name_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="native"):
        solve_l1(np.eye(2), np.ones(2), 0.1, solver="fista")


def test_backend_crash_is_wrapped_in_a_solver_error():
    with pytest.raises(SolverError, match="(?i)scs.*option"):
        solve_l1(np.eye(3), np.ones(3), 0.1, solver="scs", no_such_option=1)


@pytest.mark.parametrize(
    ("A", "y", "lam"),
    [(np.ones(3), np.ones(3), 0.1), (np.eye(3), np.ones(2), 0.1), (np.eye(2), np.ones(2), -1.0)],
)
def test_malformed_problems_raise_config_errors(A, y, lam):
    with pytest.raises(ConfigError):
        solve_l1(A, y, lam, solver="native")


@pytest.mark.skipif(
    not default_reference_path().is_file(), reason="the authors' recorded run is not available"
)
def test_published_scores_are_reproduced_from_published_measurements():
    """Every cycle: the published Phi (legacy seed) and measurements give the published scores.

    The published scores came from SCS, whose answers carry ~1e-4 noise and up to a few percent
    of error on the widest layers, so the exact solution matches them to that accuracy.
    """
    run = load_reference_run()
    for ray, y_in, y_out in zip(
        run.weight_rays, run.measurements_previous_layer, run.measurements_next_layer, strict=True
    ):
        m = ray.size
        n = measurement_count(m, run.measurement_fraction, "reference")
        assert n == y_in.size
        A = sensing_times_basis(gaussian_sensing_matrix(n, m, np.random.RandomState(42424242)))
        scores = sum(solve_l1(A, y, run.lam, solver="native").coef for y in (y_in, y_out))
        assert np.linalg.norm(scores - ray) <= 0.03 * np.linalg.norm(ray)


def test_native_path_refreshes_its_inverse_gram_without_changing_the_answer(monkeypatch):
    """The inverse Gram matrix and correlations are recomputed mid-path on long paths."""
    from tomoprune.cs.solvers import native

    A, y = dtc_problem(256, seed=9)
    reference = solve_l1(A, y, 0.3, solver="native")
    monkeypatch.setattr(native, "_REFRESH_EVERY", 3)
    refreshed = solve_l1(A, y, 0.3, solver="native")
    oracle = solve_l1(A, y, 0.3, solver="clarabel")
    assert refreshed.status == "optimal"
    assert refreshed.objective <= oracle.objective * (1 + 1e-6)
    np.testing.assert_allclose(refreshed.coef, reference.coef, atol=1e-9)


@pytest.mark.parametrize("seed", [10, 16, 19])
def test_a_duplicated_column_leaves_the_exact_answer_unchanged(seed):
    """Appending a copy of any column changes nothing: the copies can share the weight.

    Copies are exact ties on the path; the one of a coefficient that leaves the active set
    sits where that coefficient left and must not re-enter there.
    """
    A, y = dtc_problem(128, seed=seed)
    best = solve_l1(A, y, 0.3, solver="clarabel").objective
    for column in range(A.shape[1]):
        doubled = np.concatenate([A, A[:, [column]]], axis=1)  # last column = column
        native = solve_l1(doubled, y, 0.3, solver="native")
        assert native.status == "optimal", column
        assert native.objective <= best * (1 + 1e-6), column


def test_singular_gram_in_a_warm_started_search_falls_back_to_least_squares():
    """A warm start on both of two identical columns makes the support's Gram matrix singular."""
    rng = np.random.default_rng(13)
    A = rng.standard_normal((10, 30))
    A[:, 1] = A[:, 0]
    y = rng.standard_normal(10)
    start = np.zeros(30)
    start[[0, 1]] = 0.5  # singular support
    warm = solve_l1(A, y, 0.1, solver="native", warm_start=start)
    oracle = solve_l1(A, y, 0.1, solver="clarabel")
    assert np.all(np.isfinite(warm.coef))
    assert warm.objective <= oracle.objective * (1 + 1e-6)


def test_native_gives_the_same_answer_for_any_memory_layout_of_a():
    """The path hands A to BLAS in place; Fortran-ordered or strided input must not matter."""
    A, y = dtc_problem(128, seed=14)
    reference = solve_l1(A, y, 0.3, solver="native")
    wide = np.repeat(A, 2, axis=1)[:, ::2]  # a strided view equal to A
    for layout in (np.asfortranarray(A), wide):
        result = solve_l1(layout, y, 0.3, solver="native")
        np.testing.assert_array_equal(result.coef, reference.coef)
