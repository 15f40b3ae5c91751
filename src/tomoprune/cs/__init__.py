"""Compressed sensing for DTC: sensing operators, the DCT basis, and l1 solvers.

- :mod:`tomoprune.cs.operators`: Gaussian sensing matrices, the orthonormal DCT-I basis,
  measurement counts (the published rounding included), and matrix-free forms of both.
- :mod:`tomoprune.cs.solvers`: ``solve_l1`` for ``min ||A w - y||^2 + lam ||w||_1`` with the
  backends ``native`` (exact homotopy), ``scs``/``clarabel`` (cvxpy), ``lasso_lars`` (sklearn).
- :mod:`tomoprune.cs.weight_level`: matrix-free reconstruction of a whole layer's weights.
"""
