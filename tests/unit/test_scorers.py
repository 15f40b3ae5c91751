"""Each scorer on hand-made weights whose kept set is known."""

import numpy as np
import pytest
import scipy.fft
import torch

from tomoprune.errors import ConfigError
from tomoprune.methods.neuron.method import (
    DTCParams,
    NeuronPruningParams,
    keep_count,
    scorer_from_params,
    select_units,
)
from tomoprune.methods.neuron.scoring import SCORERS, GroupWeights, ScoringContext


def score(name, weights, context):
    """Score with the registered scorer ``name`` built from the context's method params."""
    return scorer_from_params(name, context.params).score(weights, context)


def weights_with_rays(a_in: np.ndarray, a_out: np.ndarray, fan_in: int = 5, outputs: int = 3):
    """Weights whose incoming/outgoing sums are exactly a_in / a_out (spread over columns)."""
    m = len(a_in)
    w_in = np.zeros((m, fan_in))
    w_in[:, 0] = a_in * 0.5
    w_in[:, 3] = a_in * 0.5
    w_out = np.zeros((outputs, m))
    w_out[1] = a_out
    return GroupWeights.between(
        torch.tensor(w_in, dtype=torch.float64), torch.tensor(w_out, dtype=torch.float64)
    )


def test_keep_count_gives_the_published_width_sequence():
    widths, width = [], 512
    while width > 10:
        width = keep_count(width, 0.1)
        widths.append(width)
    assert widths[:4] == [460, 414, 372, 334]
    assert widths[-1] == 9
    assert len(widths) == 34


def test_magnitude_scores_are_signed_sums_and_largest_rule_keeps_the_biggest():
    a_in = np.array([1.0, -5.0, 0.5, 3.0, -0.1, 2.0, 0.0, -4.0, 0.2, 1.5])
    a_out = np.array([0.0, 1.0, 0.1, -1.0, 0.0, 0.5, 0.2, 0.0, 0.1, 0.0])
    weights = weights_with_rays(a_in, a_out)
    params = NeuronPruningParams(fraction=0.3)
    k = keep_count(10, 0.3)
    result = score("magnitude", weights, ScoringContext(1, k, params, {}))
    np.testing.assert_allclose(result.scores, a_in + a_out)
    kept = select_units(result.scores, k, "largest", 0.3)
    expected = np.sort(np.argsort(-np.abs(a_in + a_out))[:k])
    np.testing.assert_array_equal(kept, expected)


def test_reference_rule_keeps_units_strictly_below_the_quantile():
    scores = np.array([5.0, -1.0, 0.2, 9.0, -3.0, 0.0, 7.0, 2.0, -8.0, 4.0])
    kept = select_units(scores, keep_count(10, 0.1), "below_quantile", 0.1)
    threshold = np.quantile(np.abs(scores), 0.9)
    np.testing.assert_array_equal(kept, np.flatnonzero(np.abs(scores) < threshold))
    assert 3 not in kept and len(kept) == 9  # the largest |score| (9.0) is the one removed


def test_random_reference_draw_matches_numpy_seeded_choice():
    weights = weights_with_rays(np.ones(40), np.ones(40))
    params = NeuronPruningParams(reseed_each_cycle=True, seed=42424242)
    result = score("random", weights, ScoringContext(1, 36, params, {}))
    expected = np.sort(np.random.RandomState(42424242).choice(40, 36, replace=False))
    np.testing.assert_array_equal(result.keep, expected)


def test_random_corrected_draws_differ_between_cycles_but_repeat_per_seed():
    weights = weights_with_rays(np.ones(40), np.ones(40))
    params = NeuronPruningParams(seed=3)
    state_a, state_b = {}, {}
    first = score("random", weights, ScoringContext(1, 20, params, state_a)).keep
    second = score("random", weights, ScoringContext(2, 20, params, state_a)).keep
    again = score("random", weights, ScoringContext(1, 20, params, state_b)).keep
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("solver", ["native", "clarabel"])
def test_dtc_keeps_the_units_carrying_the_sparse_dct_coefficients(solver):
    m = 64
    coefficients = np.zeros(m)
    coefficients[[3, 17, 40]] = [6.0, -5.0, 4.0]
    ray = scipy.fft.idct(coefficients, type=1, norm="ortho")  # a ray sparse in DCT-I
    weights = weights_with_rays(ray, ray)
    params = DTCParams(fraction=1 - 3 / 64, measurement_fraction=0.5, lam=1e-3, solver=solver)
    result = score("dtc", weights, ScoringContext(1, 3, params, {}))
    kept = select_units(result.scores, 3, "largest", params.fraction)
    np.testing.assert_array_equal(kept, [3, 17, 40])
    np.testing.assert_allclose(result.scores[[3, 17, 40]], 2 * coefficients[[3, 17, 40]], atol=0.05)
    record = result.measurements
    assert record["n_measurements"] == 32
    assert set(record["measurements"]) == {"previous_layer", "next_layer"}
    assert len(record["coefficients"]["next_layer"]) == m


def test_weight_level_dtc_keeps_the_units_with_the_heaviest_rows():
    rng = np.random.default_rng(0)
    w_in = rng.normal(0, 0.01, (32, 40))
    w_out = rng.normal(0, 0.01, (6, 32))
    heavy = [2, 11, 30]
    w_in[heavy] += 1.0
    params = DTCParams(variant="weight_level", measurement_fraction=0.5, fraction=1 - 3 / 32)
    weights = GroupWeights.between(torch.tensor(w_in), torch.tensor(w_out))
    result = score("dtc", weights, ScoringContext(1, 3, params, {}))
    np.testing.assert_array_equal(select_units(result.scores, 3, "largest", params.fraction), heavy)
    assert result.info["variant"] == "weight_level"


def test_scorer_settings_are_validated_when_made_with_one_line_errors():
    from tomoprune import DTC

    with pytest.raises(ConfigError, match="'lam' setting of DTC must be a number > 0. Got -1"):
        DTC(lam=-1)
    with pytest.raises(ConfigError, match="'basis' setting of DTC must be one of"):
        DTC(basis="fourier")
    with pytest.raises(ConfigError, match="Did you mean 'lam'"):
        SCORERS.create("dtc", lamb=0.1)


def test_a_scorer_object_and_its_name_with_settings_build_the_same_method_params():
    from tomoprune import DTC
    from tomoprune.methods.neuron.method import method_params

    by_object = method_params(DTC(lam=0.7), fraction=0.2)
    by_name = method_params("dtc", lam=0.7, fraction=0.2)
    assert by_object == by_name
    assert by_object[1].lam == 0.7 and by_object[1].fraction == 0.2
