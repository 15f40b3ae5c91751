"""One comparison of two methods over seeds, with every statistic the reports quote, and the
sentence that says what it shows.

The verdict comes from the primary test only: the paired t-test of the mean difference, its p
Holm-adjusted over the family the sweep declares. A difference is claimed when the adjusted p is
below ``alpha``; "no difference" is claimed only when TOST shows equivalence within the declared
margin; otherwise the sentence says the data cannot tell. The signed-rank test, its
Hodges-Lehmann estimate and the bootstrap-t interval are sensitivity checks, recorded beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from tomoprune.statistics.equivalence import Equivalence, tost_paired
from tomoprune.statistics.intervals import CONFIDENCE, bootstrap_t_interval
from tomoprune.statistics.multiplicity import holm
from tomoprune.statistics.tests import (
    PairedTest,
    SignedRank,
    differences,
    paired_t_test,
    signed_rank,
    what_n_allows,
)

ALPHA = 0.05


@dataclass(frozen=True)
class Comparison:
    """``a - b`` over matched seeds."""

    a: str
    b: str
    test: PairedTest
    signed_rank: SignedRank
    equivalence: Equivalence
    boot_t_low: float | None
    boot_t_high: float | None
    p_holm: float | None = None
    family_size: int = 1

    def flat(self) -> dict[str, Any]:
        """One flat record (CSV row) with prefixed names."""
        t, w, e = self.test, self.signed_rank, self.equivalence
        return {
            "a": self.a,
            "b": self.b,
            "n": t.n,
            "mean": t.mean,
            "sd": t.sd,
            "t_low": t.ci_low,
            "t_high": t.ci_high,
            "t": t.t,
            "df": t.df,
            "p": t.p,
            "p_holm": self.p_holm,
            "family_size": self.family_size,
            "margin": e.margin,
            "tost_p": e.p,
            "equivalent": e.equivalent,
            "smallest_equivalence_margin": e.smallest_margin,
            "boot_t_low": self.boot_t_low,
            "boot_t_high": self.boot_t_high,
            "wilcoxon_p": w.p,
            "hodges_lehmann": w.hodges_lehmann,
            "smallest_wilcoxon_p": w.smallest_p,
            "wins": t.wins,
            "losses": t.losses,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(
    a: Any,
    b: Any,
    *,
    names: tuple[str, str],
    margin: float,
    alpha: float = ALPHA,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Comparison:
    """Every statistic of ``a - b`` over matched seeds (not yet adjusted for the family)."""
    boot = bootstrap_t_interval(differences(a, b), confidence, seed=seed)
    return Comparison(
        a=names[0],
        b=names[1],
        test=paired_t_test(a, b, confidence),
        signed_rank=signed_rank(a, b),
        equivalence=tost_paired(a, b, margin, alpha),
        boot_t_low=boot.low,
        boot_t_high=boot.high,
    )


def adjust(family: Sequence[Comparison]) -> list[Comparison]:
    """The family with Holm-adjusted p-values of the primary test."""
    adjusted = holm([c.test.p for c in family])
    size = sum(p is not None for p in adjusted)
    return [replace(c, p_holm=p, family_size=size) for c, p in zip(family, adjusted, strict=True)]


def _pts(x: float | None, scale: float) -> str:
    return "-" if x is None else f"{scale * x:+.2f}"


def _p(x: float | None) -> str:
    return "-" if x is None else f"{x:.2g}" if x < 0.001 else f"{x:.3f}"


def sentence(
    c: Comparison, *, scope: str, unit: str = "points", scale: float = 100.0, alpha: float = ALPHA
) -> str:
    """What the comparison shows, decided by the Holm-adjusted paired t-test and TOST."""
    t, e = c.test, c.equivalence
    head = f"{scope}, {c.a} against {c.b}"
    if t.n < 2 or t.mean is None:
        return f"{head}: {t.n} seed(s), so nothing can be said."
    p = c.p_holm if c.p_holm is not None else t.p
    evidence = (
        f"mean {c.a} - {c.b} = {_pts(t.mean, scale)} {unit}, 95 % t CI "
        f"[{_pts(t.ci_low, scale)}, {_pts(t.ci_high, scale)}], paired t p = {_p(t.p)}, "
        f"Holm-adjusted over {c.family_size} comparison(s) p = {_p(c.p_holm)}; "
        f"{c.a} ahead on {t.wins} of {t.n} seeds"
    )
    margin = f"+-{scale * e.margin:.2f} {unit}"
    if p is not None and p < alpha:
        verdict = f"{c.a} is {'better' if t.mean > 0 else 'worse'} than {c.b}"
    elif e.equivalent:
        verdict = (
            f"{c.a} and {c.b} are equivalent within the declared margin {margin} "
            f"(TOST p = {_p(e.p)})"
        )
    else:
        shown = "-" if e.smallest_margin is None else f"+-{scale * e.smallest_margin:.2f}"
        verdict = (
            f"no difference is shown and no equivalence within {margin} either (TOST p = "
            f"{_p(e.p)}; equivalence would hold only for a margin of {shown} {unit})"
        )
    return f"{head}: {verdict} ({evidence}; {what_n_allows(t.n, alpha)})."
