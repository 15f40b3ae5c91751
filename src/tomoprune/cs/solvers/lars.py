"""scikit-learn LassoLars backend ("lasso_lars"): an exact LARS-lasso path, well tested.

scikit-learn minimises ``(1 / (2 n)) ||y - A w||^2 + alpha ||w||_1``; multiplying by ``2 n``
gives our objective with ``lam = 2 n alpha``, so ``alpha = lam / (2 n)``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tomoprune.cs.solvers.base import RawSolution
from tomoprune.cs.solvers.registry import L1_SOLVERS
from tomoprune.errors import SolverError


@L1_SOLVERS.register("lasso_lars")
def solve_lasso_lars(
    A: np.ndarray,
    y: np.ndarray,
    lam: float,
    *,
    warm_start: np.ndarray | None = None,
    max_iter: int | None = None,
    **options: Any,
) -> RawSolution:
    """Solve with ``sklearn.linear_model.LassoLars(alpha=lam / (2 n), fit_intercept=False)``.

    The path always starts from zero, so ``warm_start`` is ignored. ``max_iter`` caps the
    number of path steps (status ``max_iterations`` when it is reached); the default,
    ``10 * min(n, m) + 100``, is the native solver's, since scikit-learn's own default of 500
    stops short of the solution once ``n`` exceeds a few hundred.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LassoLars

    n = A.shape[0]
    if max_iter is None:
        max_iter = 10 * min(A.shape) + 100
    model = LassoLars(alpha=lam / (2.0 * n), fit_intercept=False, max_iter=max_iter, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            model.fit(A, y)
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise SolverError(
                f"LassoLars failed on the l1 problem ({exc}); try solver='native'."
            ) from None
    iterations = int(np.max(model.n_iter_))
    status = "max_iterations" if iterations >= max_iter else "optimal"
    return RawSolution(
        coef=np.asarray(model.coef_, dtype=float), iterations=iterations, status=status
    )
