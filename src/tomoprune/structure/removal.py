"""Physical removal of units, group by group (no masks), and the record that replays it.

``plan_removal`` turns "keep these units of these groups" into one ``Removal``: for every
tensor, which indices survive along which dimension. The same plan builds the smaller model
(``apply_removal``) and slices any per-parameter state such as Adam's moments
(``slice_parameter_state``), so training continues as if the removed units had never existed.

``RemovalRecord`` accumulates the kept units of every group relative to the *original* model
across cycles; it is plain JSON, and ``apply_record`` rebuilds the compressed architecture from
the original one, so a compressed model is saved as safetensors plus this record, never pickled.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from tomoprune.errors import ConfigError, RecordError
from tomoprune.structure.groups import UnitGroup, find_groups
from tomoprune.structure.layers import sync_shape_attributes

RECORD_FORMAT = "tomoprune.removal/1"


@dataclass(frozen=True)
class Slice:
    """Keep ``index`` along ``dim`` of one named parameter or buffer."""

    dim: int
    index: torch.Tensor


@dataclass(frozen=True)
class Removal:
    """What one removal step keeps.

    ``slices``: tensor name -> the slices applied to it (one per sliced dimension);
    ``kept``: group name -> kept unit indices (sorted, relative to the model planned on);
    ``widths``: group name -> width before the step.
    """

    slices: dict[str, tuple[Slice, ...]]
    kept: dict[str, tuple[int, ...]]
    widths: dict[str, int]


def _check_keep(group: UnitGroup, keep: Sequence[int]) -> torch.Tensor:
    index = torch.as_tensor(list(keep), dtype=torch.long).flatten()
    if index.numel() == 0:
        raise ConfigError(f"unit group '{group.name}' would lose all its units; keep at least one.")
    if int(index.min()) < 0 or int(index.max()) >= group.width:
        raise ConfigError(
            f"kept units of group '{group.name}' must lie in 0..{group.width - 1}; "
            f"got {int(index.min())}..{int(index.max())}."
        )
    index = torch.unique(index)  # sorted, duplicates dropped
    return index


def plan_removal(
    model: nn.Module, groups: Sequence[UnitGroup], keep: Mapping[str, Sequence[int]]
) -> Removal:
    """Which slices of which tensors survive when group ``g`` keeps only units ``keep[g]``.

    Groups not named in ``keep`` are left whole. Positions of a tensor that belong to no
    removed unit (e.g. the columns another producer contributes to a concatenation) survive.
    """
    by_name = {g.name: g for g in groups}
    unknown = [name for name in keep if name not in by_name]
    if unknown:
        raise ConfigError(
            f"unknown unit group(s) {', '.join(unknown)}; known: {', '.join(by_name) or '-'}."
        )
    tensors = dict(model.named_parameters()) | dict(model.named_buffers())
    masks: dict[tuple[str, int], torch.Tensor] = {}
    kept: dict[str, tuple[int, ...]] = {}
    widths: dict[str, int] = {}
    for name, units in keep.items():
        group = by_name[name]
        index = _check_keep(group, units)
        kept[name] = tuple(int(i) for i in index)
        widths[name] = group.width
        alive = torch.zeros(group.width, dtype=torch.bool)
        alive[index] = True
        for member in group.members:
            key = (member.tensor, member.dim)
            if key not in masks:
                masks[key] = torch.ones(tensors[member.tensor].shape[member.dim], dtype=torch.bool)
            masks[key][member.positions] &= alive[member.units]
    slices: dict[str, list[Slice]] = {}
    for (tensor, dim), mask in sorted(masks.items()):
        if bool(mask.all()):
            continue
        slices.setdefault(tensor, []).append(Slice(dim, torch.nonzero(mask).flatten()))
    return Removal({k: tuple(v) for k, v in slices.items()}, kept, widths)


def _cut(value: torch.Tensor, cuts: Sequence[Slice]) -> torch.Tensor:
    for cut in cuts:
        value = value.index_select(cut.dim, cut.index.to(value.device))
    return value


def apply_removal(model: nn.Module, removal: Removal) -> nn.Module:
    """A new model with every tensor named in ``removal`` sliced; everything else copied."""
    from tomoprune.structure.attention import find_attention, sync_attention

    blocks = find_attention(model)
    new = copy.deepcopy(model)
    for name, cuts in removal.slices.items():
        module_name, _, attr = name.rpartition(".")
        module = new.get_submodule(module_name) if module_name else new
        old = getattr(module, attr)
        data = _cut(old.detach(), cuts).clone()
        if isinstance(old, nn.Parameter):
            setattr(module, attr, nn.Parameter(data, requires_grad=old.requires_grad))
        else:
            module.register_buffer(attr, data)
    for module in new.modules():
        sync_shape_attributes(module)
    sync_attention(new, blocks)
    return new


def slice_parameter_state(
    old_model: nn.Module, removal: Removal, state: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Slice per-parameter state (keyed by parameter name) exactly like the parameters.

    Tensors shaped like their parameter (e.g. Adam's ``exp_avg`` and ``exp_avg_sq``) are sliced
    value by value with the parameter's slices; anything else (e.g. Adam's ``step``) is kept.
    """
    params = dict(old_model.named_parameters())
    out: dict[str, dict[str, Any]] = {}
    for name, entry in state.items():
        cuts = removal.slices.get(name)
        new_entry = {}
        for key, value in entry.items():
            if cuts and torch.is_tensor(value) and value.shape == params[name].shape:
                value = _cut(value, cuts).clone()
            new_entry[key] = value
        out[name] = new_entry
    return out


@dataclass
class RemovalRecord:
    """Kept units of every group relative to the original model, accumulated over steps.

    ``original_widths``: group name -> width in the original model; ``kept``: group name ->
    kept original unit indices (groups never reduced are absent).
    """

    original_widths: dict[str, int] = field(default_factory=dict)
    kept: dict[str, list[int]] = field(default_factory=dict)

    def add(self, removal: Removal) -> None:
        """Compose one more step (planned on the model this record describes)."""
        for name, kept in removal.kept.items():
            self.original_widths.setdefault(name, removal.widths[name])
            before = self.kept.get(name, list(range(self.original_widths[name])))
            if len(before) != removal.widths[name]:
                raise RecordError(
                    f"removal record out of step for group '{name}': it holds {len(before)} "
                    f"units but the step was planned on {removal.widths[name]}."
                )
            self.kept[name] = [before[i] for i in kept]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT,
            "groups": {
                name: {"original_width": self.original_widths[name], "kept": list(kept)}
                for name, kept in self.kept.items()
            },
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> RemovalRecord:
        if not isinstance(payload, Mapping) or payload.get("format") != RECORD_FORMAT:
            raise RecordError(
                f"not a tomoprune removal record (expected format {RECORD_FORMAT!r})."
            )
        record = cls()
        for name, entry in payload["groups"].items():
            record.original_widths[name] = int(entry["original_width"])
            record.kept[name] = [int(i) for i in entry["kept"]]
        return record


def apply_record(
    model: nn.Module,
    example_inputs: Any,
    record: RemovalRecord,
    *,
    ignored_layers: Sequence[nn.Module] = (),
) -> nn.Module:
    """The original ``model`` with the recorded removal applied (weights as in ``model``)."""
    if not record.kept:
        return copy.deepcopy(model)
    groups = find_groups(model, example_inputs, ignored_layers=ignored_layers)
    by_name = {g.name: g for g in groups}
    for name, width in record.original_widths.items():
        group = by_name.get(name)
        if group is None or group.width != width:
            found = "absent" if group is None else f"width {group.width}"
            raise RecordError(
                f"the removal record expects unit group '{name}' of width {width} in the "
                f"original model, but it is {found}; build the model the record was made from."
            )
    return apply_removal(model, plan_removal(model, groups, record.kept))
