"""Gibbs entropy of a measurement vector: binning strategies, formulas, undefined cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from tomoprune.analysis.entropy import (
    BINNINGS,
    NUMPY_RULES,
    EntropySettings,
    entropy_series,
    gibbs_entropy,
)
from tomoprune.errors import ConfigError


def test_paper_formula_matches_hand_computation_on_two_bins():
    # [0, 0.2) holds 0.05 and 0.1, [0.2, 0.4) holds 0.3: p = (2/3, 1/3)
    res = gibbs_entropy([0.05, 0.1, 0.3], EntropySettings())
    p = np.array([2 / 3, 1 / 3])
    assert res.value == pytest.approx(-np.sum(p * np.log(p + 1e-10)), abs=1e-12)
    assert res.bins == 499  # np.arange(-50, 50, 0.2) gives 500 edges
    assert res.share_outside == 0.0
    assert (res.n, res.n_binned) == (3, 3)


def test_exact_formula_matches_scipy_entropy_in_every_base():
    x = np.random.default_rng(0).normal(0, 3, 200)
    counts, _ = np.histogram(x, bins=np.arange(-50.0, 50.0, 0.2))
    for base, b in (("2", 2), ("e", None), ("10", 10)):
        res = gibbs_entropy(x, EntropySettings(base=base, formula="exact"))
        assert res.value == pytest.approx(stats.entropy(counts, base=b), rel=1e-12)


def test_share_outside_the_paper_edges_is_reported_not_hidden():
    # the last paper edge is 49.8, so 49.9 is outside like +-100
    res = gibbs_entropy([0.0, 100.0, -100.0, 49.9], EntropySettings())
    assert res.share_outside == pytest.approx(0.75)
    assert res.n_binned == 1
    assert res.value == pytest.approx(-math.log(1 + 1e-10), abs=1e-15)


def test_all_values_outside_gives_none_with_reason_never_nan():
    res = gibbs_entropy([120.0, -75.5], EntropySettings())
    assert res.value is None
    assert "outside" in res.undefined_reason
    assert res.share_outside == 1.0


@pytest.mark.parametrize(
    ("values", "fragment"),
    [([], "empty"), ([1.0, float("nan")], "not finite"), ([1.0, None], "missing")],
)
def test_empty_or_non_finite_vectors_are_undefined(values, fragment):
    res = gibbs_entropy(values, EntropySettings())
    assert res.value is None
    assert fragment in res.undefined_reason


def test_missing_vector_in_a_series_is_undefined():
    results = entropy_series([np.array([1.0, 2.0]), None], EntropySettings())
    assert results[0].value is not None
    assert results[1].value is None and "no measurement" in results[1].undefined_reason


def test_fixed_count_with_one_value_per_bin_gives_log_n():
    res = gibbs_entropy(
        np.arange(8.0), EntropySettings(binning="fixed_count", n_bins=8, base="2", formula="exact")
    )
    assert res.value == pytest.approx(3.0)
    assert res.bins == 8


@pytest.mark.parametrize("rule", NUMPY_RULES)
def test_numpy_rules_bin_the_whole_range_and_agree_with_scipy(rule):
    x = np.random.default_rng(1).standard_t(3, 150) * 20
    res = gibbs_entropy(x, EntropySettings(binning=rule, formula="exact", base="2"))
    counts, _ = np.histogram(x, bins=rule)
    assert res.share_outside == 0.0
    assert res.bins == counts.size
    assert res.value == pytest.approx(stats.entropy(counts, base=2), rel=1e-12)


def test_paper_epsilon_and_exact_differ_only_by_the_epsilon_term():
    one_bin = [0.01, 0.02, 0.03]
    assert gibbs_entropy(one_bin, EntropySettings(formula="exact")).value == 0.0
    assert gibbs_entropy(one_bin, EntropySettings()).value == pytest.approx(-1e-10, rel=1e-6)


def test_registry_lists_every_strategy_and_rejects_unknown_names():
    assert {"paper", "fixed_count", "fd", "sturges", "auto"} <= set(BINNINGS.names())
    with pytest.raises(ConfigError, match="paper"):
        EntropySettings(binning="nope")
    with pytest.raises(ConfigError, match="base"):
        EntropySettings(base="3")
    with pytest.raises(ConfigError, match="formula"):
        EntropySettings(formula="shannon")
