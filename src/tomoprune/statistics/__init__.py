"""Statistics every report uses: intervals, paired tests, multiplicity, equivalence, curves and
the incremental-value test of the Gibbs claim.

A low layer: it imports numpy, scipy and statsmodels only (and ``tomoprune.errors``), never the
sweeps, analysis or reproduce packages that call it. See ``docs/guide/statistics.md`` for what
each statistic answers and why it was chosen.
"""

from tomoprune.statistics.comparison import Comparison, adjust, compare, sentence
from tomoprune.statistics.curves import (
    ScheduleMismatch,
    area_under_curve,
    high_level_mean,
    paired_by_level,
)
from tomoprune.statistics.equivalence import Equivalence, tost_paired
from tomoprune.statistics.incremental import (
    IncrementalFit,
    PooledIncremental,
    incremental_fit,
    pool_incremental,
    spline_basis,
)
from tomoprune.statistics.intervals import (
    MeanInterval,
    bootstrap_t_interval,
    fisher_interval,
    prediction_interval,
    t_interval,
)
from tomoprune.statistics.multiplicity import holm
from tomoprune.statistics.tests import (
    PairedTest,
    SignedRank,
    paired_t_test,
    signed_rank,
    smallest_signed_rank_p,
)

__all__ = [
    "Comparison",
    "adjust",
    "compare",
    "sentence",
    "Equivalence",
    "IncrementalFit",
    "MeanInterval",
    "PairedTest",
    "PooledIncremental",
    "ScheduleMismatch",
    "SignedRank",
    "area_under_curve",
    "bootstrap_t_interval",
    "fisher_interval",
    "high_level_mean",
    "holm",
    "incremental_fit",
    "paired_by_level",
    "paired_t_test",
    "pool_incremental",
    "prediction_interval",
    "signed_rank",
    "smallest_signed_rank_p",
    "spline_basis",
    "t_interval",
    "tost_paired",
]
