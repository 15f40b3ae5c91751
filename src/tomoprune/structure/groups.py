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

import dataclasses
import math
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from tomoprune.errors import ConfigError, UnresolvedGroupsWarning, UnsupportedModelError
from tomoprune.structure.layers import WEIGHTED, SlicingRule, check_supported, slicing_rule
from tomoprune.structure.search import dependency_graph, search_groups

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


def _members_of(
    prefix: str, module: nn.Module, rule: SlicingRule, out: bool, positions, units
) -> list[Member]:
    """The members one layer contributes for channels ``positions`` owned by ``units``."""
    pos = torch.as_tensor(positions, dtype=torch.long)
    unit = torch.as_tensor(units, dtype=torch.long)
    members = []
    channels = int(rule.channels(module))
    for piece in rule.out(module) if out else rule.inputs(module):
        tensor = module.get_parameter(piece.tensor) if _is_param(module, piece.tensor) else None
        size = (tensor if tensor is not None else module.get_buffer(piece.tensor)).shape[piece.dim]
        p = pos % size if piece.fold else pos
        if piece.copies > 1:
            p = torch.cat([p + k * channels for k in range(piece.copies)])
        u = unit.repeat(piece.copies)
        p, u = _dedupe(p.tolist(), u.tolist())
        members.append(
            Member(
                prefix + piece.tensor,
                piece.dim % _ndim(module, piece.tensor),
                _t(p),
                _t(u),
                piece.role,
            )
        )
    return members


def _is_param(module: nn.Module, path: str) -> bool:
    try:
        module.get_parameter(path)
    except AttributeError:
        return False
    return True


def _ndim(module: nn.Module, path: str) -> int:
    try:
        return module.get_parameter(path).dim()
    except AttributeError:
        return module.get_buffer(path).dim()


def _t(values: Sequence[int]) -> torch.Tensor:
    return torch.as_tensor(list(values), dtype=torch.long)


def _dedupe(positions: Sequence[int], units: Sequence[int]) -> tuple[list[int], list[int]]:
    seen: dict[int, int] = {}
    for p, u in zip(positions, units, strict=True):
        seen.setdefault(int(p), int(u))
    ordered = sorted(seen.items())
    return [p for p, _ in ordered], [u for _, u in ordered]


def _trace_error(exc: Exception) -> UnsupportedModelError:
    """One line for a failed trace, saying whose code failed: the model's forward (wrong example
    inputs) or Torch-Pruning's dependency analysis after the forward ran (a tensor reshaping it
    cannot follow, such as ShuffleNet's channel shuffle)."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1].filename.replace("\\", "/") if frames else ""
    in_analysis = "torch_pruning/dependency/index_mapping" in last
    if in_analysis:
        return UnsupportedModelError(
            f"the model ran, but the dependency analysis cannot follow how it reshapes channels "
            f"({type(exc).__name__} in {frames[-1].name}: {first}); exclude the layers around "
            "that reshaping (a channel shuffle, a view that splits channels) with ignored_layers."
        )
    return UnsupportedModelError(
        f"the model could not be traced with the example inputs ({type(exc).__name__}: "
        f"{first}); pass example inputs the model accepts (a tensor, a tuple, or a dict of "
        "keyword inputs), or exclude the failing layer with ignored_layers."
    )


def find_groups(
    model: nn.Module,
    example_inputs: Any,
    *,
    ignored_layers: Iterable[nn.Module] = (),
) -> list[UnitGroup]:
    """All removable unit groups of ``model``, in the model's module order.

    ``example_inputs`` is one batch the model accepts: a tensor, a tuple of positional inputs,
    or a dict of keyword inputs (``{"input_ids": ...}``); it is only run forward to trace the
    graph. The model may return a tensor, a tuple, a dict or a dataclass such as Hugging Face's
    ``ModelOutput``. A group is removable when its units are read by at least one layer (so the
    network's outputs are never a group) and no layer in ``ignored_layers`` (or inside one)
    produces, normalises or consumes them. Attention heads are groups of their own
    (``structure.attention``); attention whose head size follows its input width stays whole,
    like an ignored layer. A group whose search runs past its bound (``structure.search``) is
    left whole with an ``UnresolvedGroupsWarning``. The model's training/eval state is left as
    it was.

    Raises
    ------
    UnsupportedModelError
        For a layer unit groups cannot handle, or a model that cannot be traced (one line).
    """
    import torch_pruning as tp

    from tomoprune.structure.attention import find_attention, find_tied_attention, head_group

    ignored = list(ignored_layers)
    check_supported(model, ignored)
    every_block = find_attention(model)
    tied = find_tied_attention(model, every_block)
    ignored += [m for m in tied if all(m is not i for i in ignored)]
    ignored_ids = {id(m) for root in ignored for m in root.modules()}
    names = {module: name for name, module in model.named_modules()}
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    modes = {m: m.training for m in model.modules()}
    blocks = [b for b in every_block if not ignored_ids & b.module_ids(model)]
    if blocks and _is_pretrained(model):
        return _transformer_groups(model, example_inputs, blocks, ignored_ids, order)
    # Ignored layers stay nodes of the graph, so their inputs and outputs are cut apart (a
    # group never runs through them) and every group touching them is dropped below; types
    # Torch-Pruning does not know become opaque nodes for that, and the types tomoprune knows
    # but Torch-Pruning does not get their channel counts from tomoprune's rules.
    known = tuple(tp.ops.type2class(t) for t in tp.DependencyGraph().REGISTERED_PRUNERS)
    pruners: dict[Any, Any] = {
        type(m): _opaque_pruner() for m in ignored if not isinstance(m, known)
    }
    for name, module in model.named_modules():
        rule = slicing_rule(module, name)
        if rule is not None and not isinstance(module, known) and id(module) not in ignored_ids:
            pruners.setdefault(type(module), _channel_pruner(rule))
    try:
        with torch.enable_grad():
            graph = dependency_graph().build_dependency(
                model,
                example_inputs=_tp_inputs(example_inputs),
                output_transform=tensors_of,
                customized_pruners=pruners,
                verbose=False,
            )
            roots = tuple({type(m) for m in model.modules() if _is_root(m)}) or WEIGHTED
            search = search_groups(graph, ignored_layers=ignored, root_module_types=roots)
    except UnsupportedModelError:
        raise
    except Exception as exc:  # tracing runs the user's model: any failure becomes one line
        raise _trace_error(exc) from None
    finally:
        for module, training in modes.items():
            module.train(training)
    if search.unresolved:
        _warn_unresolved([names[m] for m in search.unresolved])
    excluded = {key for b in blocks for key in b.internal_keys()}
    context = _Context(names, order, ignored_ids, excluded)
    groups = [g for g in (from_torch_pruning(t, graph, model, context) for t in search.groups) if g]
    fixed = _fixed_width_tensors(model)
    groups = [g for g in groups if not any(m.tensor in fixed for m in g.members)]
    groups += [head_group(model, b) for b in blocks]
    groups.sort(key=lambda g: order[g.name])
    return groups


def _warn_unresolved(roots: list[str]) -> None:
    """One line for the groups whose search was given up on (``structure.search``)."""
    warnings.warn(
        UnresolvedGroupsWarning(
            f"{len(roots)} unit group(s) left whole: the dependency analysis of the channels "
            f"of {', '.join(roots)} ran past its bound (a reshaping it cannot follow, such as "
            "a window partition); their units stay and every other group is removable."
        ),
        stacklevel=3,
    )


def _is_pretrained(model: nn.Module) -> bool:
    return hasattr(model, "config") and hasattr(model, "save_pretrained")


def _transformer_groups(
    model: nn.Module, example_inputs: Any, blocks: list, ignored_ids: set[int], order: dict
) -> list[UnitGroup]:
    """A Hugging Face transformer's groups: whole attention heads and MLP neurons, found by
    the blocks' layouts (``structure.attention``) instead of tracing; its hidden size stays
    (the config ties the head size and every layer to it). The example inputs are still run
    once, so inputs the model rejects fail here in one line."""
    from tomoprune.structure.attention import find_mlp_groups, head_group

    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            inputs = _tp_inputs(example_inputs)
            model(**inputs) if isinstance(inputs, dict) else model(*inputs)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise UnsupportedModelError(
            f"the model could not be run with the example inputs ({type(exc).__name__}: "
            f"{first}); pass the keyword inputs it accepts, e.g. {{'input_ids': ...}}."
        ) from None
    finally:
        for module, training in modes.items():
            module.train(training)
    groups = [head_group(model, b) for b in blocks] + find_mlp_groups(model)
    modules = dict(model.named_modules())
    groups = [
        g
        for g in groups
        if not any(id(modules[n]) in ignored_ids for n in g.producers + g.consumers)
    ]
    return sorted(groups, key=lambda g: order[g.name])


def _fixed_width_tensors(model: nn.Module) -> set[str]:
    """Tensors whose channels stay: a Hugging Face model's input embeddings (its config ties
    the head size and every layer's width to the hidden size, so only heads and MLP neurons
    are removed from it)."""
    embeddings = getattr(model, "get_input_embeddings", None)
    if embeddings is None or not hasattr(model, "config"):
        return set()
    try:
        layer = embeddings()
    except (NotImplementedError, AttributeError):
        return set()
    names = {id(p): n for n, p in model.named_parameters()}
    weight = getattr(layer, "weight", None)
    return {names[id(weight)]} if weight is not None and id(weight) in names else set()


def _is_root(module: nn.Module) -> bool:
    rule = slicing_rule(module)
    return rule is not None and any(s.role == "producer" for s in rule.out(module))


def _tp_inputs(example_inputs: Any) -> Any:
    if isinstance(example_inputs, Mapping):
        return dict(example_inputs)
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs)
    return (example_inputs,)


def tensors_of(output: Any) -> list[torch.Tensor]:
    """Every tensor in a model's output: tensors, tuples, lists, dicts and dataclasses (such as
    Hugging Face's ``ModelOutput``) are searched; other objects (caches) are skipped."""
    if torch.is_tensor(output):
        return [output]
    if isinstance(output, Mapping):
        return [t for v in output.values() for t in tensors_of(v)]
    if isinstance(output, (tuple, list)):
        return [t for v in output for t in tensors_of(v)]
    if dataclasses.is_dataclass(output) and not isinstance(output, type):
        return [t for f in dataclasses.fields(output) for t in tensors_of(getattr(output, f.name))]
    return []


def _channel_pruner(rule: SlicingRule) -> Any:
    """A Torch-Pruning pruner that only reports channel counts (tomoprune does the surgery)."""
    import torch_pruning as tp

    class Channels(tp.pruner.function.BasePruningFunc):
        def prune_out_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
            return layer

        def prune_in_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
            return layer

        if rule.coupled:  # a norm-like layer: its inputs are its outputs
            prune_in_channels = prune_out_channels

        def get_out_channels(self, layer: nn.Module) -> int:
            return int(rule.channels(layer))

        def get_in_channels(self, layer: nn.Module) -> int:
            inputs = rule.inputs(layer)
            if not inputs:
                return int(rule.channels(layer))
            first = inputs[0]
            return int(layer.get_parameter(first.tensor).shape[first.dim])

    return Channels()


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
    excluded: set[tuple[str, bool]] = dataclasses.field(default_factory=set)

    @classmethod
    def of(cls, model: nn.Module) -> _Context:
        from tomoprune.structure.attention import find_attention

        names = {module: name for name, module in model.named_modules()}
        order = {name: i for i, (name, _) in enumerate(model.named_modules())}
        excluded = {key for b in find_attention(model) for key in b.internal_keys()}
        return cls(names, order, set(), excluded)


def from_torch_pruning(
    tp_group: Any, graph: Any, model: nn.Module, context: _Context | None = None
) -> UnitGroup | None:
    """The ``UnitGroup`` of one Torch-Pruning group (None when it is not removable)."""
    import torch_pruning as tp

    context = context or _Context.of(model)
    names, order = context.names, context.order
    param_names = getattr(graph, "_param_to_name", {})
    param_dims = {id(p): dim for p, dim in getattr(graph, "unwrapped_parameters", [])}
    layers: dict[tuple[str, bool], tuple[nn.Module, SlicingRule, list[int], list[int]]] = {}
    params: dict[str, tuple[int, list[int], list[int]]] = {}
    for item in tp_group:
        target = item.dep.target.module
        if isinstance(target, tp.ops._OutputOp):
            return None  # the units are outputs of the model
        if isinstance(target, nn.Parameter):
            name = param_names.get(target)
            if name is None or id(target) not in param_dims:
                continue
            owner = name.rpartition(".")[0]
            if owner and id(model.get_submodule(owner)) in context.ignored_ids:
                return None
            _, pos, unit = params.setdefault(name, (param_dims[id(target)], [], []))
            pos += list(item.idxs)
            unit += list(item.root_idxs)
            continue
        if not isinstance(target, nn.Module) or target not in names:
            continue  # functional operations (add, cat, view, ...) hold no tensors
        if id(target) in context.ignored_ids:
            return None
        rule = slicing_rule(target, names[target])
        if rule is None:
            continue
        out = graph.is_out_channel_pruning_fn(item.dep.handler)
        key = (names[target], out)
        if key in context.excluded:
            return None  # attention internals: removed by whole heads (structure.attention)
        _, _, pos, unit = layers.setdefault(key, (target, rule, [], []))
        pos += list(item.idxs)
        unit += list(item.root_idxs)
    every_unit = [u for *_, unit in layers.values() for u in unit]
    every_unit += [u for _, _, unit in params.values() for u in unit]
    if not every_unit:
        return None
    remap = _slot_map(layers, max(every_unit) + 1)
    if remap is None:
        return None
    members: list[Member] = []
    for (name, out), (module, rule, pos, unit) in sorted(
        layers.items(), key=lambda kv: (order[kv[0][0]], not kv[0][1])
    ):
        prefix = f"{name}." if name else ""
        members += _members_of(prefix, module, rule, out, pos, [remap(u) for u in unit])
    for name, (dim, pos, unit) in sorted(params.items()):
        p, u = _dedupe(pos, [remap(x) for x in unit])
        ndim = model.get_parameter(name).dim()
        members.append(Member(name, dim % ndim, _t(p), _t(u), "state"))
    producers = _layers_with(members, "producer", model, order)
    consumers = _layers_with(members, "consumer", model, order)
    if not producers or not consumers:
        return None  # nothing reads the units (the network's outputs) or nothing makes them
    return UnitGroup(
        name=producers[0],
        width=int(max(remap(u) for u in every_unit) + 1),
        producers=producers,
        consumers=consumers,
        members=tuple(members),
    )


def _layers_with(
    members: Sequence[Member], role: Role, model: nn.Module, order: dict[str, int]
) -> tuple[str, ...]:
    """The layers holding members of ``role`` in module order (an MHA for its out_proj)."""
    found = []
    for member in members:
        if member.role != role:
            continue
        owner = member.tensor.rpartition(".")[0]
        parent = owner.rpartition(".")[0]
        if owner and isinstance(model.get_submodule(parent), nn.MultiheadAttention):
            owner = parent
        found.append(owner)
    return tuple(sorted(dict.fromkeys(found), key=lambda n: order.get(n, -1)))


def _slot_map(layers: dict, width: int) -> Callable[[int], int] | None:
    """Units of a group that runs through layers with channel blocks (grouped convolutions,
    GroupNorm, the heads of ``nn.MultiheadAttention``) are channel slots of every block, so
    unit ``u`` becomes ``u mod (width / blocks)``; None when the blocks do not line up."""
    blocks = 1
    for module, rule, _, _ in layers.values():
        blocks = math.lcm(blocks, int(rule.channel_groups(module)))
    if blocks == 1:
        return lambda u: u
    if width % blocks:
        return None
    slot = width // blocks
    for module, rule, pos, unit in layers.values():
        g = int(rule.channel_groups(module))
        if g == 1:
            continue
        per_block = int(rule.channels(module)) // g
        if per_block == 0 or any(
            p % per_block != u % (width // g) for p, u in zip(pos, unit, strict=True)
        ):
            return None
    return lambda u: u % slot


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
