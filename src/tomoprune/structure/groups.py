"""Unit groups: the sets of coupled units that are removed together.

A *unit* is one output row of a Linear layer or one output channel of a Conv layer. Units are
coupled when removing one forces the removal of others: a residual addition ties the channels
of every producer that feeds it, a concatenation places a producer's channels at an offset in
the consumer's input, a Flatten spreads one channel over a block of columns. A ``UnitGroup``
lists, for each unit, every tensor slice that belongs to it:

- ``producer``: the rows / out-channels of each weighted layer that computes the unit;
- ``state``: per-unit tensors of those producers and of BatchNorm layers (biases, running
  statistics, affine parameters);
- ``consumer``: the input columns / in-channels of each weighted layer that reads the unit
  (several columns per unit behind a Flatten, an offset behind a concatenation).

``find_groups`` derives the groups of any ``nn.Module`` from its traced autograd graph through
Torch-Pruning's ``DependencyGraph`` (which already follows additions, concatenations, splits,
reshapes and flattening); tomoprune adds the table of supported layers, the one-line errors, the
naming and ordering of groups, and everything done with a group afterwards (surgery, scoring,
optimizer state, records, reload).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from tomoprune.errors import ConfigError
from tomoprune.structure.layers import PER_UNIT, WEIGHTED, check_supported

Role = Literal["producer", "state", "consumer"]


@dataclass(frozen=True, eq=False)
class Member:
    """Positions along ``dim`` of tensor ``tensor`` (a parameter or buffer name) and the unit
    each position belongs to (``units[k]`` owns ``positions[k]``)."""

    tensor: str
    dim: int
    positions: torch.Tensor  # (P,) long
    units: torch.Tensor  # (P,) long, values in 0..width-1
    role: Role


@dataclass(frozen=True, eq=False)
class UnitGroup:
    """``width`` coupled units and every tensor slice that belongs to them.

    ``name`` is the module name of the first producer in the model's module order (e.g.
    ``"0"`` in a Sequential, ``"layer1.0.conv2"`` in a ResNet); it stays the same while units
    are removed, so records and reloads refer to groups by it.
    """

    name: str
    width: int
    producers: tuple[str, ...]  # module names
    consumers: tuple[str, ...]  # module names
    members: tuple[Member, ...]

    def by_role(self, role: Role) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.role == role)

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary: which tensors the group slices, and how."""
        return {
            "name": self.name,
            "width": self.width,
            "producers": list(self.producers),
            "consumers": list(self.consumers),
            "tensors": [
                {"tensor": m.tensor, "dim": m.dim, "role": m.role, "positions": len(m.positions)}
                for m in self.members
            ],
        }


def _members_of(module_name: str, module: nn.Module, out: bool, positions, units) -> list[Member]:
    prefix = f"{module_name}." if module_name else ""
    pos = torch.as_tensor(positions, dtype=torch.long)
    unit = torch.as_tensor(units, dtype=torch.long)
    if isinstance(module, WEIGHTED):
        if out:
            members = [Member(prefix + "weight", 0, pos, unit, "producer")]
            if module.bias is not None:
                members.append(Member(prefix + "bias", 0, pos, unit, "state"))
            return members
        return [Member(prefix + "weight", 1, pos, unit, "consumer")]
    if isinstance(module, PER_UNIT):
        names = ["weight", "bias", "running_mean", "running_var"]
        return [
            Member(prefix + n, 0, pos, unit, "state")
            for n in names
            if getattr(module, n, None) is not None
        ]
    return []


def _dedupe(positions: Sequence[int], units: Sequence[int]) -> tuple[list[int], list[int]]:
    seen: dict[int, int] = {}
    for p, u in zip(positions, units, strict=True):
        seen.setdefault(int(p), int(u))
    ordered = sorted(seen.items())
    return [p for p, _ in ordered], [u for _, u in ordered]


def find_groups(
    model: nn.Module,
    example_inputs: torch.Tensor | Sequence[torch.Tensor],
    *,
    ignored_layers: Iterable[nn.Module] = (),
) -> list[UnitGroup]:
    """All removable unit groups of ``model``, in the model's module order.

    ``example_inputs`` is one batch (or a tuple of positional inputs) the model accepts; it is
    only run forward to trace the graph. A group is removable when its units are read by at
    least one weighted layer (so the network's outputs are never a group) and no layer in
    ``ignored_layers`` (or inside one) produces, normalises or consumes them. The model's
    training/eval state is left as it was.

    Raises
    ------
    UnsupportedModelError
        For a layer the table in ``structure.layers`` does not support (one line naming it).
    """
    import torch_pruning as tp

    ignored = list(ignored_layers)
    check_supported(model, ignored)
    ignored_ids = {id(m) for root in ignored for m in root.modules()}
    names = {module: name for name, module in model.named_modules()}
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    modes = {m: m.training for m in model.modules()}
    inputs = example_inputs if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    # Ignored layers stay nodes of the graph, so their inputs and outputs are cut apart (a
    # group never runs through them) and every group touching them is dropped below; types
    # Torch-Pruning does not know become opaque nodes for that.
    known = tuple(tp.ops.type2class(t) for t in tp.DependencyGraph().REGISTERED_PRUNERS)
    opaque = {type(m): _opaque_pruner() for m in ignored if not isinstance(m, known)}
    try:
        with torch.enable_grad():
            graph = tp.DependencyGraph().build_dependency(
                model,
                example_inputs=tuple(inputs),
                customized_pruners=opaque,
                verbose=False,
            )
            found = list(graph.get_all_groups(ignored_layers=ignored, root_module_types=WEIGHTED))
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"the model could not be traced with the example inputs ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); pass example inputs the model "
            "accepts, or exclude the failing layer with ignored_layers."
        ) from None
    finally:
        for module, training in modes.items():
            module.train(training)
    context = _Context(names, order, ignored_ids)
    groups = [g for g in (from_torch_pruning(t, graph, model, context) for t in found) if g]
    groups.sort(key=lambda g: order[g.name])
    return groups


def _opaque_pruner() -> Any:
    import torch_pruning as tp

    class Opaque(tp.pruner.function.BasePruningFunc):
        """A layer nothing is removed from: its inputs and outputs are not coupled."""

        def prune_out_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
            return layer

        def prune_in_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
            return layer

        def get_out_channels(self, layer: nn.Module) -> None:
            return None

        def get_in_channels(self, layer: nn.Module) -> None:
            return None

    return Opaque()


@dataclass(frozen=True)
class _Context:
    names: dict[nn.Module, str]
    order: dict[str, int]
    ignored_ids: set[int]

    @classmethod
    def of(cls, model: nn.Module) -> _Context:
        names = {module: name for name, module in model.named_modules()}
        order = {name: i for i, (name, _) in enumerate(model.named_modules())}
        return cls(names, order, set())


def from_torch_pruning(
    tp_group: Any, graph: Any, model: nn.Module, context: _Context | None = None
) -> UnitGroup | None:
    """The ``UnitGroup`` of one Torch-Pruning group (None when it is not removable)."""
    import torch_pruning as tp

    context = context or _Context.of(model)
    names, order = context.names, context.order
    items: dict[tuple[str, bool], tuple[nn.Module, list[int], list[int]]] = {}
    for item in tp_group:
        module = item.dep.target.module
        if isinstance(module, tp.ops._OutputOp):
            return None  # the units are outputs of the model
        if not isinstance(module, nn.Module) or module not in names:
            continue  # functional operations (add, cat, view, ...) hold no tensors
        if id(module) in context.ignored_ids:
            return None
        if not isinstance(module, WEIGHTED + PER_UNIT):
            continue
        out = isinstance(module, PER_UNIT) or graph.is_out_channel_pruning_fn(item.dep.handler)
        key = (names[module], out)
        _, pos, unit = items.setdefault(key, (module, [], []))
        pos += list(item.idxs)
        unit += list(item.root_idxs)
    producers = sorted(
        {n for (n, out), (m, _, _) in items.items() if out and isinstance(m, WEIGHTED)},
        key=order.__getitem__,
    )
    consumers = sorted(
        {n for (n, out), (m, _, _) in items.items() if not out and isinstance(m, WEIGHTED)},
        key=order.__getitem__,
    )
    if not producers or not consumers:
        return None  # nothing reads the units (the network's outputs) or nothing makes them
    members: list[Member] = []
    for (name, out), (module, pos, unit) in sorted(
        items.items(), key=lambda kv: (order[kv[0][0]], not kv[0][1])
    ):
        pos, unit = _dedupe(pos, unit)
        members += _members_of(name, module, out, pos, unit)
    width = model.get_submodule(producers[0]).weight.shape[0]
    return UnitGroup(
        name=producers[0],
        width=int(width),
        producers=tuple(producers),
        consumers=tuple(consumers),
        members=tuple(members),
    )


def select_groups(groups: list[UnitGroup], names: str | Sequence[str]) -> list[UnitGroup]:
    """The groups named in ``names`` ("all", or a comma-separated list / sequence of names)."""
    if isinstance(names, str):
        if names.strip() == "all":
            return list(groups)
        names = [n.strip() for n in names.split(",") if n.strip()]
    by_name = {g.name: g for g in groups}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        valid = ", ".join(by_name) or "(none)"
        raise ConfigError(
            f"The 'method.groups' setting names unknown unit group(s) {', '.join(unknown)}; "
            f"this model's groups are: {valid} (or 'all')."
        )
    return [by_name[n] for n in names]
