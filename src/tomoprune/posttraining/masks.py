"""Masks that keep the entries of largest score: per row, per N:M group, per tensor.

Ties go to the lower index (stable sorts), so a mask is a deterministic function of its scores.
"""

from __future__ import annotations

import torch


def keep_per_row(scores: torch.Tensor, density: float) -> torch.Tensor:
    """Each row keeps its round(density * columns) largest scores.

    One selection per row (``kthvalue``, linear time) finds the row's threshold instead of a
    full sort: every score above it is kept, and the ties at it fill the rest from the lowest
    column up, which is the mask a stable descending sort would give.
    """
    rows, columns = scores.shape
    keep = round(density * columns)
    if keep <= 0:
        return torch.zeros_like(scores, dtype=torch.bool)
    if keep >= columns:
        return torch.ones_like(scores, dtype=torch.bool)
    threshold = scores.kthvalue(columns - keep + 1, dim=1, keepdim=True).values
    mask = scores > threshold
    ties = scores == threshold
    room = keep - mask.sum(1, keepdim=True)
    return mask | (ties & (ties.cumsum(1) <= room))


def keep_per_tensor(scores: torch.Tensor, density: float) -> torch.Tensor:
    """The tensor keeps its round(density * numel) largest scores."""
    flat = scores.reshape(-1)
    order = torch.argsort(-flat, stable=True)[: round(density * flat.numel())]
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[order] = True
    return mask.reshape(scores.shape)


def keep_n_of_m(scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """In every row, each run of ``m`` consecutive columns keeps its ``n`` largest scores."""
    rows, columns = scores.shape
    grouped = scores.reshape(rows, columns // m, m)
    order = torch.argsort(-grouped, dim=2, stable=True)[:, :, :n]
    mask = torch.zeros_like(grouped, dtype=torch.bool).scatter_(2, order, True)
    return mask.reshape(rows, columns)


def is_n_of_m(mask: torch.Tensor, n: int, m: int) -> bool:
    """Whether every run of ``m`` consecutive columns of every row has at most ``n`` kept."""
    rows, columns = mask.shape
    return bool((mask.reshape(rows, columns // m, m).sum(2) <= n).all())


def smallest_entries(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Mask of the ``count`` smallest entries of ``scores``, ties to the lower row-major index.

    One selection (``kthvalue``, linear time) finds the threshold instead of a full sort; only
    entries equal to it need ordering, which is rare for real-valued scores. Equal to a stable
    argsort of the flattened scores cut after ``count`` entries.
    """
    if count <= 0:
        return torch.zeros_like(scores, dtype=torch.bool)
    if count >= scores.numel():
        return torch.ones_like(scores, dtype=torch.bool)
    # the k-th smallest value does not depend on the order: read the storage as it lies
    contiguous = scores if scores.is_contiguous() else scores.T
    if not contiguous.is_contiguous():
        contiguous = scores.contiguous()
    threshold = contiguous.reshape(-1).kthvalue(count).values
    chosen = scores < threshold
    ties = scores == threshold
    missing = count - int(chosen.sum())
    if int(ties.sum()) == missing:
        return chosen | ties
    # several entries equal the threshold: the first ``missing`` of them in row-major order
    order = ties.reshape(-1).cumsum(0).reshape(scores.shape)
    return chosen | (ties & (order <= missing))


def smallest_per_column(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Mask of the ``count`` smallest entries in each column of ``scores`` (m, columns).

    Ties go to the lower row. For short columns (m <= 16, as in N:M patterns) each entry's
    rank is counted with m x m comparisons, which is much faster than m-element sorts per
    column; longer columns use a stable sort.
    """
    m = scores.shape[0]
    if m > 16:
        order = torch.argsort(scores, dim=0, stable=True)[:count]
        return torch.zeros_like(scores, dtype=torch.bool).scatter_(0, order, True)
    # rank[j] = #{k: s_k < s_j} + #{k < j: s_k == s_j}
    other, this = scores[:, None], scores[None, :]  # (m, 1, columns), (1, m, columns)
    lower = torch.ones((m, m), dtype=torch.bool, device=scores.device).tril(-1).T[:, :, None]
    rank = ((other < this) | ((other == this) & lower)).sum(0)
    return rank < count
