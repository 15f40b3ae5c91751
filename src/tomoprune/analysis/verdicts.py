"""Plain-language verdicts for a correlation and its controls.

Each function takes the numbers of one control and returns one sentence a reader can act on.
Thresholds are stated in the sentences' logic below, not hidden: a control "shows evidence" when
its p-value is below ``alpha``; a null model explains "all" of a correlation when its typical
correlation reaches the observed one, "most" from 75 %, "part" from 40 %, else "little".
"""

from __future__ import annotations

from tomoprune.analysis.correlation import (
    BootstrapResult,
    CorrelationResult,
    PartialResult,
    PermutationResult,
)
from tomoprune.analysis.nullmodels import NullCorrelation


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for prose: ``None`` reads as "undefined"; tiny p-values keep two digits."""
    if value is None:
        return "undefined"
    if value != 0 and abs(value) < 10 ** (-digits):
        return f"{value:.1e}"
    return f"{value:.{digits}f}"


def headline(result: CorrelationResult, what: str) -> str:
    if result.r is None:
        return f"{what}: correlation undefined ({result.undefined_reason})."
    dropped = (
        f", {result.n_dropped} cycle(s) dropped where a series is undefined"
        if result.n_dropped
        else ""
    )
    return (
        f"{what}: {result.method} r = {fmt(result.r)} (p = {fmt(result.p_value)}) over "
        f"{result.n_used} cycles{dropped}."
    )


def permutation_verdict(res: PermutationResult, alpha: float) -> str:
    if res.p_value is None:
        return f"Permutation test not computed: {res.undefined_reason}."
    if res.p_value < alpha:
        return (
            f"Permutation p = {fmt(res.p_value, 4)} ({res.n_resamples} shuffles): unlikely under "
            "shuffled cycles, but both series trend with sparsity, so shuffling is an easy null; "
            "the controls below test more."
        )
    return (
        f"Permutation p = {fmt(res.p_value, 4)} ({res.n_resamples} shuffles): no evidence of "
        "association even against shuffled cycles."
    )


def bootstrap_verdict(res: BootstrapResult) -> str:
    if res.low is None or res.high is None:
        return f"Block bootstrap not computed: {res.undefined_reason}."
    span = (
        f"{res.confidence:.0%} moving-block bootstrap interval [{fmt(res.low)}, {fmt(res.high)}] "
        f"(block length {res.block_length}, {res.n_valid} resamples)"
    )
    if res.low > 0 or res.high < 0:
        return f"{span}: the sign is stable when neighbouring cycles are resampled together."
    return f"{span}: it includes 0, so the correlation is not distinguishable from none."


def differences_verdict(res: CorrelationResult, observed: float | None, alpha: float) -> str:
    if res.r is None or res.p_value is None:
        return f"Correlation of differences not computed: {res.undefined_reason}."
    body = (
        f"The correlation of cycle-to-cycle differences is {fmt(res.r)} "
        f"(p = {fmt(res.p_value)}, {res.n_used} pairs)"
    )
    if res.p_value >= alpha:
        return f"{body}: no evidence beyond the shared trend."
    if observed is not None and (res.r > 0) != (observed > 0):
        return f"{body}: the changes move in opposite directions, so the level correlation comes from the trend."
    return f"{body}: the series also move together from cycle to cycle, evidence beyond the shared trend."


def _trend(degree: int) -> str:
    return {1: "a linear", 2: "a quadratic", 3: "a cubic"}.get(degree, f"a degree-{degree}")


def partial_verdict(res: PartialResult, alpha: float) -> str:
    if res.r is None or res.p_value is None:
        return f"Partial correlation given sparsity not computed: {res.undefined_reason}."
    trend = _trend(res.degree)
    body = (
        f"The partial correlation given sparsity ({trend} trend removed) is {fmt(res.r)} "
        f"(p = {fmt(res.p_value)}, {res.dof} degrees of freedom)"
    )
    if res.p_value < alpha:
        return (
            f"{body}: an association remains after removing {trend} trend in sparsity; a "
            "curved trend can still carry it (the size-only null tests that)."
        )
    return f"{body}: no association is left once {trend} trend in sparsity is removed."


def null_verdict(res: NullCorrelation, observed: float | None, label: str) -> str:
    if observed is None:
        return f"The {label} null cannot be compared: the observed correlation is undefined."
    if res.r_draws_mean is None:
        return f"The {label} null gives no defined correlation: {res.undefined_reason}."
    typical = res.r_draws_mean
    band = f" (draws {fmt(res.r_draws_low)} to {fmt(res.r_draws_high)})"
    head = f"The size-only null ({label}) reproduces r = {fmt(typical)}{band} of the observed {fmt(observed)}"
    if observed == 0 or (typical > 0) != (observed > 0):
        return f"{head}: vector length alone does not produce a correlation of this sign."
    share = typical / observed
    if share >= 1.0:
        what = "vector length alone explains all of the correlation"
    elif share >= 0.75:
        what = "most of the correlation is explained by vector length"
    elif share >= 0.4:
        what = "part of the correlation is explained by vector length"
    else:
        what = "vector length explains little of the correlation"
    inside = (
        res.r_draws_low is not None
        and res.r_draws_high is not None
        and res.r_draws_low <= observed <= res.r_draws_high
    )
    tail = "; the observed value lies inside the null's range" if inside else ""
    if label.startswith("scale matched"):
        # y = Phi x with a Gaussian Phi independent of x is, given x, exactly i.i.d.
        # N(0, ||x||^2): this null is the observed vector's own distribution, not an alternative
        return (
            f"{head}{tail}. This null is the exact distribution of a Gaussian measurement "
            "vector given its length and norm, so it checks the measurement pipeline; it is "
            "not a test of whether entropy carries more than size (the incremental test over "
            "seeds answers that)."
        )
    return f"{head}: {what}{tail}."
