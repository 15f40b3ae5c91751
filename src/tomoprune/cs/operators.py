"""Sensing matrices, the DCT sparsifying basis, and matrix-free forms of both.

Compressed sensing here measures a vector ``x`` (length ``m``) with ``n << m`` linear measurements
``y = Phi x`` and reconstructs its coefficients ``w`` in an orthonormal basis ``Psi`` (``x = Psi
w``) by an l1-regularised least-squares solve on ``A = Phi Psi``. The published DTC experiment
uses a dense standard-Gaussian ``Phi`` and the orthonormal DCT-I matrix as ``Psi``; this module
builds both exactly as that experiment did, and also provides fast forms that never hold an
``m x m`` matrix:

* :func:`sensing_times_basis` forms ``Phi @ Psi`` as a row-wise DCT-I of ``Phi``
  (``O(n m log m)`` instead of ``O(n m^2)``; ``Psi`` is symmetric, so ``Phi Psi = (Psi Phi^T)^T``).
* :class:`SubsampledDCTOperator` is a structured random measurement (random signs, orthonormal
  DCT-II, ``n`` random rows kept, scaled so the rows are orthogonal with squared norm ``m / n``),
  applied in ``O(m log m)`` and generated from a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.fft
from scipy.sparse.linalg import LinearOperator

from tomoprune.cs.bases import Basis
from tomoprune.errors import ConfigError

MeasurementRule = Literal["reference", "round"]


def dct_basis(m: int) -> np.ndarray:
    """The orthonormal DCT-I matrix of size ``m`` (symmetric, so it is its own inverse).

    Built as the published experiment built it: the DCT-I (``norm="ortho"``) of the identity
    along axis 0. scipy's orthonormal DCT-I is undefined for a single point; the 1 x 1 basis is
    ``[[1.0]]``, the only orthonormal choice that keeps the sign.

    Parameters
    ----------
    m : int
        Signal length (number of hidden units for DTC), at least 1.

    Returns
    -------
    numpy.ndarray
        ``(m, m)`` float64 matrix ``Psi`` with ``Psi @ Psi == I`` to rounding.
    """
    _check_length(m, "m")
    if m == 1:
        return np.ones((1, 1))
    return scipy.fft.dct(np.eye(m), type=1, norm="ortho", axis=0)


def dct_synthesis(w: np.ndarray, axis: int = -1) -> np.ndarray:
    """Apply the orthonormal DCT-I (``Psi @ w``, equally ``Psi^T @ w``) along ``axis`` fast."""
    w = np.asarray(w, dtype=float)
    if w.shape[axis] == 1:
        return w.copy()
    return scipy.fft.dct(w, type=1, norm="ortho", axis=axis)


def gaussian_sensing_matrix(
    n: int, m: int, rng: np.random.RandomState | np.random.Generator
) -> np.ndarray:
    """An ``n x m`` matrix of independent standard normal entries.

    Parameters
    ----------
    n, m : int
        Number of measurements and signal length.
    rng : numpy.random.RandomState or numpy.random.Generator
        A legacy ``RandomState`` reproduces the published experiment bit for bit: after
        ``RandomState(42424242)`` it draws what ``np.random.seed(42424242);
        np.random.normal(size=(n, m))`` drew there. A ``Generator`` is the modern choice.
    """
    _check_length(n, "n")
    _check_length(m, "m")
    if isinstance(rng, np.random.RandomState):
        return rng.standard_normal((n, m))
    if isinstance(rng, np.random.Generator):
        return rng.standard_normal((n, m))
    raise ConfigError(
        f"The 'rng' parameter of gaussian_sensing_matrix must be a numpy RandomState or "
        f"Generator. Got {type(rng).__name__} instead."
    )


def measurement_count(m: int, fraction: float, rule: MeasurementRule = "reference") -> int:
    """How many measurements to take of a length-``m`` signal.

    Parameters
    ----------
    m : int
        Signal length.
    fraction : float
        Share of ``m`` to measure, in (0, 1].
    rule : {"reference", "round"}
        ``"reference"`` repeats the published computation ``int(m * (1 - s))`` with the keep
        quantile ``s = 1 - fraction`` (0.9 for a 10 % fraction). In floating point
        ``1 - 0.9 = 0.09999999999999998``, so this is one less than ``m / 10`` whenever ``m`` is
        a multiple of 10 (460 -> 45) and 0 for ``m <= 10``. ``"round"`` is
        ``max(1, round(m * fraction))``.

    Raises
    ------
    ConfigError
        For an unknown rule, a fraction outside (0, 1], or when no measurement would be taken.
    """
    _check_length(m, "m")
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"The measurement fraction must be in (0, 1]. Got {fraction!r} instead.")
    if rule == "reference":
        keep_quantile = 1.0 - fraction
        n = int(m * (1.0 - keep_quantile))
    elif rule == "round":
        n = max(1, round(m * fraction))
    else:
        raise ConfigError(
            f"The measurement rule must be one of reference, round. Got {rule!r} instead."
        )
    if n == 0:
        raise ConfigError(
            f"Width {m} gets 0 compressed-sensing measurements at fraction {fraction} with the "
            f"'reference' rule; stop compressing above this width, raise the fraction, or set "
            f"method.measurement_rule=round."
        )
    return n


def sensing_times_basis(phi: np.ndarray, basis: Basis | None = None) -> np.ndarray:
    """``Phi @ Psi`` for an orthonormal basis ``Psi`` (default the DCT-I), without forming it.

    Row ``i`` of ``Phi Psi`` is ``Psi^T phi_i``, the basis analysis of row ``i`` of ``Phi``:
    ``O(n m log m)`` work for the fast bases and no ``m x m`` matrix. For the DCT-I (symmetric)
    this is the DCT-I of every row, equal to ``phi @ dct_basis(m)`` to rounding.

    Parameters
    ----------
    phi : numpy.ndarray
        ``(n, m)`` sensing matrix.
    basis : tomoprune.cs.bases.Basis, optional
        The sparsifying basis (see ``tomoprune.cs.bases``); None is the published DCT-I.

    Returns
    -------
    numpy.ndarray
        ``(n, m)`` matrix ``A = Phi Psi``.
    """
    phi = np.asarray(phi, dtype=float)
    if phi.ndim != 2:
        raise ConfigError(f"The sensing matrix must be 2-D. Got shape {phi.shape} instead.")
    if basis is None:
        return dct_synthesis(phi, axis=1)
    return basis.analysis(phi, 1)


def compressed_sensing_operator(phi: np.ndarray) -> LinearOperator:
    """``A = Phi Psi`` as a scipy ``LinearOperator`` that applies the DCT-I on the fly.

    ``A @ w = Phi (Psi w)`` and ``A.T @ r = Psi (Phi^T r)``; only ``Phi`` is stored.
    """
    phi = np.asarray(phi, dtype=float)
    n, m = phi.shape

    def matvec(w: np.ndarray) -> np.ndarray:
        return phi @ dct_synthesis(np.ravel(w))

    def rmatvec(r: np.ndarray) -> np.ndarray:
        return dct_synthesis(phi.T @ np.ravel(r))

    return LinearOperator((n, m), matvec=matvec, rmatvec=rmatvec, dtype=float)


@dataclass(frozen=True, kw_only=True)
class SubsampledDCTOperator:
    """Structured random measurements ``S x = sqrt(m / n) * R C D x``, applied in O(m log m).

    ``D`` is a diagonal of random signs, ``C`` the orthonormal DCT-II of length ``m`` and ``R``
    keeps ``n`` rows drawn without replacement (sorted). The rows of ``S`` are orthogonal with
    squared norm ``m / n``, so ``S S^T = (m / n) I`` and the operator norm is ``sqrt(m / n)``,
    which is what a proximal-gradient solver needs for its step size. Build it with
    :meth:`from_seed`; nothing of size ``n x m`` is ever stored.
    """

    m: int
    signs: np.ndarray  # (m,) entries +-1
    rows: np.ndarray  # (n,) sorted distinct row indices into range(m)

    @classmethod
    def from_seed(cls, m: int, n: int, seed: int) -> SubsampledDCTOperator:
        """Draw signs and rows from ``numpy.random.default_rng(seed)``."""
        _check_length(m, "m")
        _check_length(n, "n")
        if n > m:
            raise ConfigError(
                f"Cannot take {n} structured measurements of a length-{m} signal; use n <= m."
            )
        rng = np.random.default_rng(seed)
        signs = rng.choice(np.array([-1.0, 1.0]), size=m)
        rows = np.sort(rng.choice(m, size=n, replace=False))
        return cls(m=m, signs=signs, rows=rows)

    @property
    def n(self) -> int:
        return int(self.rows.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.m)

    @property
    def scale(self) -> float:
        return float(np.sqrt(self.m / self.n))

    @property
    def norm(self) -> float:
        """Spectral norm ``||S||_2 = sqrt(m / n)`` (the rows are orthogonal)."""
        return self.scale

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """``S x``: (m,) -> (n,)."""
        full = scipy.fft.dct(self.signs * x, type=2, norm="ortho")  # (m,)
        return self.scale * full[self.rows]  # (n,)

    def rmatvec(self, z: np.ndarray) -> np.ndarray:
        """``S^T z``: (n,) -> (m,)."""
        full = np.zeros(self.m)
        full[self.rows] = z
        return self.scale * self.signs * scipy.fft.idct(full, type=2, norm="ortho")

    def as_linear_operator(self) -> LinearOperator:
        return LinearOperator(self.shape, matvec=self.matvec, rmatvec=self.rmatvec, dtype=float)

    def to_dense(self) -> np.ndarray:
        """The ``(n, m)`` matrix, for tests on small sizes only."""
        return np.stack([self.matvec(e) for e in np.eye(self.m)], axis=1)


def _check_length(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(
            f"The '{name}' parameter must be a positive integer. Got {value!r} instead."
        )
