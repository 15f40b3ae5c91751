"""What a unit group's weights say about each unit: weight rays and per-unit matrices.

A unit's *incoming* weights are its rows (or out-channel kernels) in every producer; its
*outgoing* weights are its columns (or in-channel kernels) in every consumer, including all the
columns a Flatten spreads one channel over. Sums are taken in the weights' own dtype.
"""

from __future__ import annotations

import torch
from torch import nn

from tomoprune.structure.groups import Member, UnitGroup


def _tensor(model: nn.Module, member: Member) -> torch.Tensor:
    """The member's weight with the unit's dimension first for a producer (its rows) and second
    for a consumer (its columns), whatever the layer's layout (an embedding's units are its
    columns, GPT-2's ``Conv1D`` stores ``(in, out)``)."""
    weight = model.get_parameter(member.tensor).detach()
    return weight.movedim(member.dim, 0 if member.role == "producer" else 1)


def _per_unit(values: torch.Tensor, member: Member, width: int) -> torch.Tensor:
    """Sum ``values[k]`` (one per position of ``member``) into the unit owning position k."""
    if member.units.numel() == width and torch.equal(member.units, torch.arange(width)):
        return values  # one position per unit, in unit order: nothing to add up
    out = torch.zeros(width, dtype=values.dtype, device=values.device)
    return out.index_add_(0, member.units.to(values.device), values)


def weight_rays(model: nn.Module, group: UnitGroup) -> tuple[torch.Tensor, torch.Tensor]:
    """Per unit, the signed sum of its incoming and of its outgoing weights.

    ``a_in[j] = sum over producers of sum(W[j, ...])`` and ``a_out[j] = sum over consumers of
    sum(W[:, columns of j, ...])``; shapes ``(width,)`` each.
    """
    a_in: torch.Tensor | None = None
    for member in group.by_role("producer"):
        weight = _tensor(model, member)
        rows = weight.index_select(0, member.positions.to(weight.device))
        sums = _per_unit(rows.flatten(1).sum(dim=1), member, group.width)
        a_in = sums if a_in is None else a_in + sums
    a_out: torch.Tensor | None = None
    for member in group.by_role("consumer"):
        weight = _tensor(model, member)
        if weight.dim() > 2:  # conv: (out, in, k...) -> (out, in)
            weight = weight.flatten(2).sum(dim=2)
        columns = weight.sum(dim=0).index_select(0, member.positions.to(weight.device))
        sums = _per_unit(columns, member, group.width)
        a_out = sums if a_out is None else a_out + sums
    assert a_in is not None and a_out is not None  # find_groups guarantees both roles
    return a_in, a_out


def _rows_by_unit(rows: torch.Tensor, member: Member, width: int) -> torch.Tensor:
    """``rows`` (one per position) regrouped as ``(width, positions per unit * features)``."""
    order = torch.argsort(member.units, stable=True).to(rows.device)
    return rows.index_select(0, order).reshape(width, -1)


def incoming_matrix(model: nn.Module, group: UnitGroup) -> torch.Tensor:
    """``(width, fan_in)``: each unit's incoming weights over all producers, side by side."""
    parts = []
    for member in group.by_role("producer"):
        weight = _tensor(model, member)
        rows = weight.index_select(0, member.positions.to(weight.device)).flatten(1)
        parts.append(_rows_by_unit(rows, member, group.width))
    return torch.cat(parts, dim=1)


def outgoing_matrix(model: nn.Module, group: UnitGroup) -> torch.Tensor:
    """``(width, fan_out)``: each unit's outgoing weights over all consumers (conv kernels
    summed per in-channel; the columns of a flattened channel side by side)."""
    parts = []
    for member in group.by_role("consumer"):
        weight = _tensor(model, member)
        if weight.dim() > 2:
            weight = weight.flatten(2).sum(dim=2)
        columns = weight.index_select(1, member.positions.to(weight.device)).T  # (P, out)
        parts.append(_rows_by_unit(columns, member, group.width))
    return torch.cat(parts, dim=1)


def outgoing_nonzeros(model: nn.Module, group: UnitGroup) -> torch.Tensor:
    """Per unit, how many non-zero weights of its consumers it feeds."""
    count = torch.zeros(group.width, dtype=torch.long)
    for member in group.by_role("consumer"):
        weight = _tensor(model, member)
        cut = weight.index_select(1, member.positions.to(weight.device))  # (out, P, k...)
        per_position = (cut != 0).transpose(0, 1).reshape(cut.shape[1], -1).sum(dim=1).cpu()
        count.index_add_(0, member.units, per_position)
    return count
