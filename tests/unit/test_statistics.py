"""The statistics layer against hand-computed values and against simulations where the truth
is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tomoprune.statistics import (
    ScheduleMismatch,
    adjust,
    area_under_curve,
    bootstrap_t_interval,
    compare,
    high_level_mean,
    holm,
    incremental_fit,
    paired_by_level,
    paired_t_test,
    pool_incremental,
    prediction_interval,
    sentence,
    signed_rank,
    smallest_signed_rank_p,
    t_interval,
    tost_paired,
)
from tomoprune.statistics.incremental import block_bootstrap_partial

T_975_DF2 = 4.302652729911275  # Student t quantile, two-sided 95 %, 2 degrees of freedom
T_95_DF2 = 2.919985580353725  # one-sided 95 %, 2 degrees of freedom


def t_cdf_df2(t: float) -> float:
    """Student t CDF with 2 degrees of freedom, in closed form."""
    return 0.5 + t / (2 * math.sqrt(2 + t * t))


def test_prediction_interval_is_wider_than_the_mean_interval_by_sqrt_n_plus_1():
    pi = prediction_interval([1.0, 2.0, 3.0])
    ci = t_interval([1.0, 2.0, 3.0])
    assert pi.mean == ci.mean == 2.0
    assert pi.high - 2.0 == pytest.approx(T_975_DF2 * 1.0 * math.sqrt(1 + 1 / 3))
    assert ci.high - 2.0 == pytest.approx(T_975_DF2 / math.sqrt(3))
    assert pi.low == pytest.approx(4.0 - pi.high)


def test_contains_agrees_with_the_bounds_as_printed():
    pi = prediction_interval([0.34, 0.35, 0.36])
    edge = round(pi.high, 4)  # a printed cell equal to the printed bound
    assert pi.contains(edge, digits=4)
    assert pi.contains(edge + 1e-4, digits=4) is False


def test_paired_t_test_by_hand_with_two_degrees_of_freedom():
    d = np.array([1.0, 2.0, 3.5])
    res = paired_t_test(d, np.zeros(3))
    se = d.std(ddof=1) / math.sqrt(3)
    t = d.mean() / se
    assert res.t == pytest.approx(t)
    assert res.p == pytest.approx(2 * (1 - t_cdf_df2(t)))
    assert res.ci_low == pytest.approx(d.mean() - T_975_DF2 * se)
    assert (res.wins, res.losses, res.df) == (3, 0, 2)


def test_signed_rank_floor_and_hodges_lehmann_by_hand():
    res = signed_rank([1.0, 2.0, 3.5], [0.0, 0.0, 0.0])
    # Walsh averages 1, 1.5, 2, 2.25, 2.75, 3.5: median (2 + 2.25) / 2
    assert res.hodges_lehmann == pytest.approx(2.125)
    assert res.p == pytest.approx(2 / 8)
    assert smallest_signed_rank_p(5) == pytest.approx(0.0625)
    five = signed_rank([0.1, 0.2, 0.3, 0.4, 0.5], [0.0] * 5)
    assert five.p == pytest.approx(five.smallest_p) and five.p > 0.05


def test_holm_by_hand_skips_missing_tests():
    assert holm([0.01, None, 0.04, 0.03]) == pytest.approx([0.03, None, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # 2 x 0.5 capped at 1, then monotone


def test_tost_by_hand_with_two_degrees_of_freedom():
    d = np.array([0.1, 0.3, 0.2])
    se = 0.1 / math.sqrt(3)
    res = tost_paired(d, np.zeros(3), margin=0.5)
    p_upper = t_cdf_df2((0.2 - 0.5) / se)
    p_lower = 1 - t_cdf_df2((0.2 + 0.5) / se)
    assert res.p == pytest.approx(max(p_upper, p_lower))
    assert res.equivalent is True
    assert res.smallest_margin == pytest.approx(0.2 + T_95_DF2 * se)
    assert tost_paired(d, np.zeros(3), margin=0.3).equivalent is False


def test_area_under_curve_by_hand():
    levels, acc = [0.0, 0.5, 1.0], [1.0, 1.0, 0.0]
    # over [0.25, 1]: 0.25 * 1 + the triangle-and-rectangle 0.5 * 0.5, over a length 0.75
    assert area_under_curve(levels, acc, 0.25, 1.0) == pytest.approx(0.5 / 0.75)
    assert area_under_curve(levels, acc, 0.0, 0.5) == pytest.approx(1.0)
    assert math.isnan(area_under_curve([0.3, 1.0], [1.0, 0.0], 0.0, 1.0))  # does not span
    assert math.isnan(area_under_curve(levels, [1.0, np.nan, 0.0], 0.25, 1.0))


def test_high_level_mean_refuses_to_average_over_a_missing_row():
    assert high_level_mean([0.8, 0.9, 0.95], [0.9, 0.8, 0.7], 0.85) == pytest.approx(0.75)
    assert math.isnan(high_level_mean([0.8, 0.9, 0.95], [0.9, np.nan, 0.7], 0.85))


def test_pairing_by_level_refuses_different_schedules_and_accepts_a_prefix():
    levels, values, b_values = paired_by_level(
        [0.1, 0.2, 0.3], [1.0, 2.0, 3.0], [0.1, 0.2], [5.0, 6.0]
    )
    assert list(levels) == [0.1, 0.2] and list(values) == [1.0, 2.0] and list(b_values) == [5, 6]
    with pytest.raises(ScheduleMismatch, match="row 2 has sparsity 0.2 against 0.25"):
        paired_by_level([0.1, 0.2], [1.0, 2.0], [0.1, 0.25], [1.0, 2.0], names=("dtc", "random"))


def test_inside_count_with_prediction_intervals_is_about_95_percent_when_the_truth_is_known():
    """45 cells x many sweeps: a 'published' single run drawn from the same distribution as the
    10 seeds lands inside the prediction interval ~95 % of the time, inside the interval of the
    mean about half the time."""
    rng = np.random.default_rng(7)
    cells, seeds = 45 * 60, 10
    mu = rng.uniform(0.3, 0.98, size=cells)
    sigma = rng.uniform(0.002, 0.05, size=cells)
    runs = mu[:, None] + sigma[:, None] * rng.standard_normal((cells, seeds))
    published = mu + sigma * rng.standard_normal(cells)
    pred = np.mean(
        [prediction_interval(r).contains(p) for r, p in zip(runs, published, strict=True)]
    )
    mean = np.mean([t_interval(r).contains(p) for r, p in zip(runs, published, strict=True)])
    assert 0.93 <= pred <= 0.97
    assert 0.35 <= mean <= 0.60


def test_bootstrap_t_interval_is_close_to_the_t_interval_for_normal_data():
    x = np.random.default_rng(3).normal(0.02, 0.01, size=40)
    boot, t = bootstrap_t_interval(x, seed=1), t_interval(x)
    assert boot.low == pytest.approx(t.low, abs=1.5e-3)
    assert boot.high == pytest.approx(t.high, abs=1.5e-3)


def test_sentence_claims_a_difference_only_after_holm_and_no_difference_only_with_tost():
    rng = np.random.default_rng(0)
    base = rng.normal(0.9, 0.01, size=10)
    big = compare(
        base + 0.02 + rng.normal(0, 0.003, 10), base, names=("dtc", "random"), margin=0.005
    )
    same = compare(base + rng.normal(0, 0.001, 10), base, names=("dtc", "magnitude"), margin=0.005)
    noisy = compare(
        base + rng.normal(0, 0.03, 10), base, names=("random", "magnitude"), margin=0.005
    )
    family = adjust([big, same, noisy])
    assert all(c.family_size == 3 for c in family)
    assert family[0].p_holm == pytest.approx(min(1.0, 3 * big.test.p))
    texts = [sentence(c, scope="Above 85% sparsity") for c in family]
    assert "dtc is better than random" in texts[0]
    assert "equivalent within the declared margin +-0.50 points" in texts[1]
    assert "no difference is shown and no equivalence" in texts[2]


def test_five_seeds_sentence_says_no_signed_rank_test_can_reach_5_percent():
    family = adjust([compare([1.0, 2, 3, 4, 5], [0.0] * 5, names=("a", "b"), margin=0.5)])
    assert "with 5 seeds no sign or signed-rank test can reach 0.05" in sentence(
        family[0], scope="x"
    )


# -- the Gibbs incremental test on synthetic series --------------------------------------------


def _series(rng, informative: bool, n_cycles: int = 34):
    """Accuracy and entropy that both follow curved trends in log width, with autocorrelated
    noise; when ``informative`` accuracy also carries entropy's own wiggles."""
    sparsity = 1 - 0.9 ** np.arange(1, n_cycles + 1)
    log_width = np.log(512 * (1 - sparsity))
    s = (log_width - log_width.min()) / np.ptp(log_width)
    ar = np.zeros((2, n_cycles))
    for i in range(1, n_cycles):
        ar[:, i] = 0.6 * ar[:, i - 1] + rng.standard_normal(2)
    entropy = 3 + 0.5 * np.exp(3 * s) + 0.05 * ar[0]
    accuracy = 0.95 - 0.3 * np.exp(-4 * s) + 0.005 * ar[1]
    if informative:
        accuracy = accuracy + 0.1 * 0.05 * ar[0]
    return accuracy, entropy, log_width


def _rejects(informative: bool, rng, seeds: int = 10) -> bool:
    fits = [incremental_fit(*_series(rng, informative)) for _ in range(seeds)]
    return pool_incremental([f.partial_r for f in fits]).p < 0.05


def test_incremental_test_detects_entropy_that_carries_information_beyond_size():
    rng = np.random.default_rng(11)
    assert np.mean([_rejects(True, rng) for _ in range(40)]) >= 0.9


def test_incremental_test_does_not_find_information_where_there_is_only_size():
    rng = np.random.default_rng(12)
    rate = np.mean([_rejects(False, rng) for _ in range(200)])
    assert rate <= 0.09  # nominal 0.05; 200 draws


def test_a_linear_sparsity_term_is_fooled_by_curved_trends_where_the_spline_is_not():
    from scipy import stats

    rng = np.random.default_rng(13)
    accuracy, entropy, log_width = _series(rng, informative=False)
    sparsity = 1 - np.exp(log_width) / 512
    # partial correlation given a straight line in sparsity (the old control)
    design = np.column_stack([np.ones_like(sparsity), sparsity])
    res = [y - design @ np.linalg.lstsq(design, y, rcond=None)[0] for y in (accuracy, entropy)]
    assert abs(stats.pearsonr(*res)[0]) > 0.5
    assert abs(incremental_fit(accuracy, entropy, log_width).partial_r) < 0.5


def test_cross_method_control_and_block_bootstrap_of_one_run():
    rng = np.random.default_rng(14)
    own = [incremental_fit(*_series(rng, True)).partial_r for _ in range(10)]
    control = [incremental_fit(*_series(rng, False)).partial_r for _ in range(10)]
    pooled = pool_incremental(own, control)
    assert pooled.difference_p < 0.05 and pooled.control_n == 10
    low, high = block_bootstrap_partial(*_series(rng, True), rng=np.random.default_rng(0))
    assert -1 <= low < high <= 1


def test_tests_from_a_published_summary_agree_with_the_tests_on_the_values():
    from tomoprune.statistics.equivalence import tost_from_summary
    from tomoprune.statistics.tests import t_test_from_interval

    d = np.array([0.012, 0.02, -0.004, 0.015, 0.009])
    t = paired_t_test(d, np.zeros(5))
    sd, p = t_test_from_interval(t.mean, t.ci_low, t.ci_high, 5)
    assert sd == pytest.approx(d.std(ddof=1)) and p == pytest.approx(t.p)
    e = tost_from_summary(t.mean, sd, 5, margin=0.02)
    direct = tost_paired(d, np.zeros(5), margin=0.02)
    assert e.p == pytest.approx(direct.p) and e.equivalent == direct.equivalent
    assert e.smallest_margin == pytest.approx(direct.smallest_margin)


def test_rederiving_an_earlier_summary_page_gives_paired_t_holm_and_tost():
    from tomoprune.report.rederive import rederive

    page = "\n".join(
        [
            "| setting | A - B | n | mean | 95 % bootstrap CI | 95 % t CI | Wilcoxon p | A ahead |",
            "|---|---|---:|---:|---|---|---:|---:|",
            "| s=1 | dtc - random | 5 | +1.00 | [+0.5, +1.5] | [+0.50, +1.50] | 0.062 | 5/5 |",
            "| s=1 | dtc - magnitude | 5 | +0.00 | [-0.1, +0.1] | [-0.10, +0.10] | 0.812 | 2/5 |",
        ]
    )
    first, second = rederive(page, margin=0.005)
    se = 0.005 / T_975_DF4
    assert first.sd == pytest.approx(se * math.sqrt(5))
    from scipy import stats

    assert first.p == pytest.approx(2 * stats.t.sf(0.01 / se, 4))
    assert first.p_holm == pytest.approx(min(1.0, 2 * first.p))
    assert second.equivalent and not first.equivalent
    assert second.p_holm == pytest.approx(1.0)


T_975_DF4 = 2.7764451051977987


def test_table1_prediction_count_from_an_earlier_page_by_hand():
    from tomoprune.report.rederive import table1_prediction_count

    page = "\n".join(
        [
            "| sparsity | magnitude paper | magnitude ours | random paper | random ours "
            "| DTC paper | DTC ours |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            "| 0.3477 | 0.9735 | 0.9734 | 0.9723 | 0.9716 | 0.9760 | 0.9735 |",
            "",
            "## Over 3 seeds: mean [95 % t interval] of the LOWESS accuracy per cell",
            "",
            "| sparsity | magnitude | random | DTC |",
            "|---:|---|---|---|",
            "| 0.3477 | 0.9730 [0.9726, 0.9734] NO | 0.9729 [0.9723, 0.9736] NO "
            "| 0.9727 [0.9723, 0.9731] yes |",
        ]
    )
    cells = table1_prediction_count(page, n=3)
    # half-widths 0.0004, 0.00065, 0.0004 times sqrt(4) = 2
    assert [(c["pi_low"], c["pi_high"]) for c in cells] == [
        (0.9722, 0.9738),
        (0.9716, 0.9742),
        (0.9719, 0.9735),
    ]
    assert [c["inside"] for c in cells] == [True, True, False]


def test_a_rederived_note_must_still_follow_from_the_summaries_it_names(tmp_path):
    from tomoprune.report.rederive import rederive_page
    from tomoprune.reproduce.verify import verify_rederived

    row = "| all runs | dtc - random | 5 | +1.00 | [+0.5, +1.5] | [+0.50, +1.50] | 0.062 | 5/5 |"
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "summary.md").write_text(row + "\n")
    note = tmp_path / "note.md"
    note.write_text("# Note\n\n" + rederive_page([tmp_path / "a"]))
    assert verify_rederived(note, tmp_path).ok
    (tmp_path / "a" / "summary.md").write_text(row.replace("+1.00", "+1.10") + "\n")
    assert not verify_rederived(note, tmp_path).ok
