"""The papers' equations, written plainly in float64: the oracle for tests and the bench.

Nothing here is used by ``compress_``. Each function follows the published algorithm step by
step, without the solver's shortcuts (no Cholesky factor, no lazy block updates): the inverse
Hessian of the columns not yet fixed is kept explicitly and shrunk by one Gaussian elimination
step per column (OBS, Hassibi and Stork; Frantar et al.'s equations), and the quantization
grids are computed from their definitions. Same conventions as the solver: H = E[x x^T], damping
``damp * mean(diag H)``, dead inputs (H_jj = 0) get H_jj = 1 and W[:, j] = 0, masks keep the
largest scores with ties to the lower index, per-block prune counts make the layer total exact.
"""

from __future__ import annotations

import numpy as np


def _prepare(w: np.ndarray, h: np.ndarray, damp: float) -> tuple[np.ndarray, np.ndarray]:
    w = np.array(w, dtype=np.float64)
    h = np.array(h, dtype=np.float64)
    dead = np.diag(h) == 0
    w[:, dead] = 0.0
    h[dead, dead] = 1.0
    h += damp * np.mean(np.diag(h)) * np.eye(h.shape[0])
    return w, h


def grid_params(
    w: np.ndarray, bits: int, kind: str, per_channel: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(scale, zero) per row of ``w`` from the grid definitions (see ``posttraining.grid``)."""
    maxq = 2**bits - 1
    rows = w.shape[0]
    if per_channel:
        lo, hi = np.minimum(w.min(1), 0.0), np.maximum(w.max(1), 0.0)
    else:
        lo = np.full(rows, min(w.min(), 0.0))
        hi = np.full(rows, max(w.max(), 0.0))
    if kind == "span":
        radius = np.maximum(-lo, hi)
        radius[radius == 0] = 1.0
        return 2 * radius / maxq, np.full(rows, maxq / 2)
    if kind == "symmetric":
        hi = np.maximum(-lo, hi)
        lo = np.where(lo < 0, -hi, 0.0)
    empty = (lo == 0) & (hi == 0)
    lo[empty], hi[empty] = -1.0, 1.0
    scale = (hi - lo) / maxq
    zero = np.full(rows, (maxq + 1) / 2) if kind == "symmetric" else np.round(-lo / scale)
    return scale, zero


def quantize(col: np.ndarray, scale: np.ndarray, zero: np.ndarray, bits: int):
    code = np.clip(np.round(col / scale + zero), 0, 2**bits - 1)
    return scale * (code - zero), code


def _eliminate(hinv: np.ndarray, j: int) -> None:
    """Remove column j from the remaining set: the inverse Hessian of the others (in place)."""
    hinv -= np.outer(hinv[:, j], hinv[j, :]) / hinv[j, j]


def gptq(
    w: np.ndarray,
    h: np.ndarray,
    bits: int,
    *,
    kind: str = "asymmetric",
    per_channel: bool = True,
    group_size: int | None = None,
    act_order: bool = False,
    static_groups: bool = False,
    damp: float = 0.01,
) -> tuple[np.ndarray, np.ndarray]:
    """GPTQ: (quantized W, integer codes), column by column with the full OBS update."""
    w, h = _prepare(w, h, damp)
    rows, cols = w.shape
    order = np.argsort(-np.diag(h), kind="stable") if act_order else np.arange(cols)
    static = {}
    if static_groups and group_size:
        for start in range(0, cols, group_size):
            static[start // group_size] = grid_params(
                w[:, start : start + group_size], bits, kind, per_channel
            )
    w = w[:, order]
    hinv = np.linalg.inv(h[np.ix_(order, order)])
    codes = np.zeros((rows, cols))
    params = None if group_size else grid_params(w, bits, kind, per_channel)
    for k in range(cols):
        if group_size and static:
            params = static[order[k] // group_size]
        elif group_size and k % group_size == 0:
            params = grid_params(w[:, k : k + group_size], bits, kind, per_channel)
        assert params is not None
        q, code = quantize(w[:, k], *params, bits)
        codes[:, order[k]] = code
        err = (w[:, k] - q) / hinv[k, k]
        w[:, k:] -= np.outer(err, hinv[k, k:])
        w[:, k] = q
        _eliminate(hinv, k)
    out = np.empty_like(w)
    out[:, order] = w
    return out, codes


def sparsegpt(
    w: np.ndarray,
    h: np.ndarray,
    sparsity: float = 0.5,
    *,
    nm: tuple[int, int] | None = None,
    block_size: int = 128,
    bits: int | None = None,
    kind: str = "asymmetric",
    damp: float = 0.01,
) -> tuple[np.ndarray, np.ndarray]:
    """SparseGPT: (pruned W, kept mask), mask chosen per block from w^2 / [H_F^-1]_jj."""
    w, h = _prepare(w, h, damp)
    rows, cols = w.shape
    params = grid_params(w, bits, kind) if bits else None
    hinv = np.linalg.inv(h)
    # OBS saliency w_j^2 / [H_F^-1]_jj with F = the columns from j on, when j is reached
    d, scratch = np.empty(cols), hinv.copy()
    for k in range(cols):
        d[k] = scratch[k, k]
        _eliminate(scratch, k)
    pruned = np.zeros((rows, cols), dtype=bool)
    for start in range(0, cols, block_size):
        stop = min(cols, start + block_size)
        if nm is None:
            count = round(sparsity * rows * stop) - round(sparsity * rows * start)
            sal = w[:, start:stop] ** 2 / d[start:stop]
            flat = np.argsort(sal.reshape(-1), kind="stable")[:count]
            block = np.zeros(sal.size, dtype=bool)
            block[flat] = True
            pruned[:, start:stop] = block.reshape(sal.shape)
        for k in range(start, stop):
            if nm is not None and (k - start) % nm[1] == 0:
                sal = w[:, k : k + nm[1]] ** 2 / d[k : k + nm[1]]
                drop = np.argsort(sal, axis=1, kind="stable")[:, : nm[1] - nm[0]]
                np.put_along_axis(pruned[:, k : k + nm[1]], drop, True, axis=1)
            q = np.where(pruned[:, k], 0.0, w[:, k])
            if params is not None:
                q, _ = quantize(q, *params, bits)
            err = (w[:, k] - q) / hinv[k, k]
            w[:, k:] -= np.outer(err, hinv[k, k:])
            w[:, k] = q
            _eliminate(hinv, k)
    return w, ~pruned


def wanda(
    w: np.ndarray, x: np.ndarray, sparsity: float = 0.5, nm: tuple[int, int] | None = None
) -> np.ndarray:
    """Wanda's kept mask from the inputs ``x`` (samples, columns): |w| * ||x_j||_2."""
    score = np.abs(w) * np.sqrt((np.asarray(x, dtype=np.float64) ** 2).sum(0))[None, :]
    rows, cols = w.shape
    keep = np.zeros((rows, cols), dtype=bool)
    if nm is None:
        k = round((1 - sparsity) * cols)
        for r in range(rows):
            keep[r, np.argsort(-score[r], kind="stable")[:k]] = True
        return keep
    n, m = nm
    for r in range(rows):
        for g in range(0, cols, m):
            keep[r, g + np.argsort(-score[r, g : g + m], kind="stable")[:n]] = True
    return keep


def rtn(
    w: np.ndarray,
    bits: int,
    *,
    kind: str = "asymmetric",
    per_channel: bool = True,
    group_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(w, dtype=np.float64)
    out, codes = np.empty_like(w), np.empty_like(w)
    size = group_size or w.shape[1]
    for start in range(0, w.shape[1], size):
        part = w[:, start : start + size]
        params = grid_params(part if group_size else w, bits, kind, per_channel)
        for k in range(part.shape[1]):
            out[:, start + k], codes[:, start + k] = quantize(part[:, k], *params, bits)
    return out, codes


def relative_error(w: np.ndarray, w_hat: np.ndarray, h: np.ndarray) -> float:
    """||(W - W_hat) X||^2 / ||W X||^2 through H = E[x x^T]."""
    d = np.asarray(w, np.float64) - np.asarray(w_hat, np.float64)
    w = np.asarray(w, np.float64)
    return float(np.sum((d @ h) * d) / np.sum((w @ h) * w))
