"""Sparsifying bases for compressed sensing: one registry that every CS scorer uses.

A basis ``Psi`` (``m x m``, orthonormal) is given by two fast maps along an axis:
``synthesis(w) = Psi w`` (coefficients -> signal) and ``analysis(x) = Psi^T x`` (signal ->
coefficients). The sensing-times-basis matrix of a DTC solve is ``Phi Psi``, whose rows are the
analysis of the rows of ``Phi``.

Registered bases (``method.basis``):

* ``dct1`` - orthonormal DCT-I, the published experiment's basis (symmetric: analysis equals
  synthesis); the default, bit-identical to the original code path;
* ``dct2`` - orthonormal DCT-II (synthesis is the inverse DCT-II);
* ``identity`` - no transform: the rays are assumed sparse themselves;
* ``haar`` - the orthonormal Haar wavelet transform (PyWavelets) for any length: each level
  transforms the even-length prefix of the approximation, an odd leftover sample is carried to
  the next level, down to one approximation coefficient;
* ``random_orthogonal`` - a Haar-distributed random orthogonal matrix (scipy's
  ``ortho_group``) drawn from the method's seed; dense, so meant for per-unit rays, not whole
  layers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.fft

from tomoprune.errors import ConfigError
from tomoprune.registry import Registry

DEFAULT_BASIS = "dct1"
# the largest size of the dense random orthogonal basis (m x m doubles: 32 MB at 2048)
MAX_DENSE_BASIS = 2048


@dataclass(frozen=True)
class Basis:
    """An orthonormal basis of length ``m`` as two maps along ``axis``."""

    name: str
    synthesis: Callable[[np.ndarray, int], np.ndarray]  # (w, axis) -> Psi w
    analysis: Callable[[np.ndarray, int], np.ndarray]  # (x, axis) -> Psi^T x


BasisFactory = Callable[[int, int], Basis]  # (m, seed) -> Basis
BASES: Registry[BasisFactory] = Registry("basis")


def get_basis(name: str, m: int, seed: int = 0) -> Basis:
    """The basis ``name`` for signals of length ``m`` (``seed`` for the random one)."""
    return BASES.get(name)(m, seed)


def basis_names() -> list[str]:
    return BASES.names()


def _dct1(x: np.ndarray, axis: int) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.shape[axis] == 1:  # scipy's orthonormal DCT-I is undefined for one point
        return x.copy()
    return scipy.fft.dct(x, type=1, norm="ortho", axis=axis)


@BASES.register("dct1")
def dct1_basis(m: int, seed: int = 0) -> Basis:
    return Basis("dct1", _dct1, _dct1)


@BASES.register("dct2")
def dct2_basis(m: int, seed: int = 0) -> Basis:
    return Basis(
        "dct2",
        lambda w, axis: scipy.fft.idct(np.asarray(w, dtype=float), type=2, norm="ortho", axis=axis),
        lambda x, axis: scipy.fft.dct(np.asarray(x, dtype=float), type=2, norm="ortho", axis=axis),
    )


@BASES.register("identity")
def identity_basis(m: int, seed: int = 0) -> Basis:
    def same(x: np.ndarray, axis: int) -> np.ndarray:
        return np.array(x, dtype=float)

    return Basis("identity", same, same)


def _haar_analysis(x: np.ndarray, axis: int) -> np.ndarray:
    import pywt

    x = np.moveaxis(np.asarray(x, dtype=float), axis, -1)
    approx, details = x, []
    while approx.shape[-1] >= 2:
        pairs = 2 * (approx.shape[-1] // 2)
        c_a, c_d = pywt.dwt(approx[..., :pairs], "haar", mode="periodization", axis=-1)
        details.append(c_d)
        approx = np.concatenate([c_a, approx[..., pairs:]], axis=-1)
    out = np.concatenate([approx, *reversed(details)], axis=-1)
    return np.moveaxis(out, -1, axis)


def _haar_synthesis(w: np.ndarray, axis: int) -> np.ndarray:
    import pywt

    w = np.moveaxis(np.asarray(w, dtype=float), axis, -1)
    m = w.shape[-1]
    lengths = []  # approximation length before each analysis level
    k = m
    while k >= 2:
        lengths.append(k)
        k = k // 2 + k % 2
    approx, pos = w[..., :1], 1
    for k in reversed(lengths):
        half = k // 2
        c_d = w[..., pos : pos + half]
        pos += half
        c_a, leftover = approx[..., :half], approx[..., half:]
        merged = pywt.idwt(c_a, c_d, "haar", mode="periodization", axis=-1)
        approx = np.concatenate([merged, leftover], axis=-1)
    return np.moveaxis(approx, -1, axis)


@BASES.register("haar")
def haar_basis(m: int, seed: int = 0) -> Basis:
    return Basis("haar", _haar_synthesis, _haar_analysis)


@functools.lru_cache(maxsize=8)
def _orthogonal_matrix(m: int, seed: int) -> np.ndarray:
    from scipy.stats import ortho_group

    if m == 1:
        return np.ones((1, 1))
    return ortho_group.rvs(m, random_state=np.random.default_rng(seed))


@BASES.register("random_orthogonal")
def random_orthogonal_basis(m: int, seed: int = 0) -> Basis:
    if m > MAX_DENSE_BASIS:
        raise ConfigError(
            f"The random_orthogonal basis is a dense {m} x {m} matrix, above the {MAX_DENSE_BASIS} "
            "limit; choose dct1, dct2, haar or identity for signals this long."
        )
    q = _orthogonal_matrix(m, seed)

    def synthesis(w: np.ndarray, axis: int) -> np.ndarray:
        w = np.moveaxis(np.asarray(w, dtype=float), axis, -1)
        return np.moveaxis(w @ q.T, -1, axis)

    def analysis(x: np.ndarray, axis: int) -> np.ndarray:
        x = np.moveaxis(np.asarray(x, dtype=float), axis, -1)
        return np.moveaxis(x @ q, -1, axis)

    return Basis("random_orthogonal", synthesis, analysis)


def dense_matrix(basis: Basis, m: int) -> np.ndarray:
    """The ``(m, m)`` matrix ``Psi`` (column j is the synthesis of unit vector j); for tests."""
    return basis.synthesis(np.eye(m), 0)
