"""Correction for multiple comparisons over the family a sweep declares.

Holm's step-down procedure (statsmodels ``multipletests``) controls the family-wise error rate
at ``alpha`` for any dependence between the tests and is uniformly more powerful than
Bonferroni, so a sweep that asks fifteen questions does not report the one that came out below
0.05 by chance as a finding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from statsmodels.stats.multitest import multipletests


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-adjusted p-values in the order given; ``None`` entries (no test) stay ``None`` and
    do not count towards the family size."""
    present = [i for i, p in enumerate(pvalues) if p is not None and np.isfinite(p)]
    out: list[float | None] = [None] * len(pvalues)
    if not present:
        return out
    _, adjusted, _, _ = multipletests([float(pvalues[i]) for i in present], method="holm")
    for i, p in zip(present, adjusted, strict=True):
        out[i] = float(p)
    return out
