"""l1-regularised least squares for compressed sensing, with interchangeable backends.

``solve_l1(A, y, lam, solver=...)`` minimises ``||A w - y||_2^2 + lam ||w||_1`` (the objective
of the published DTC experiment, no 1/2 factor) and returns an :class:`L1Result` whose objective
and duality gap are recomputed identically for every backend.
"""

from tomoprune.cs.solvers.base import L1Result, duality_gap, lambda_max, objective
from tomoprune.cs.solvers.registry import L1_SOLVERS, load_builtin_solvers, solve_l1, solver_names

__all__ = [
    "L1_SOLVERS",
    "L1Result",
    "duality_gap",
    "lambda_max",
    "load_builtin_solvers",
    "objective",
    "solve_l1",
    "solver_names",
]
