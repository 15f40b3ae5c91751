"""The group search: Torch-Pruning's dependency graph, with measured concatenation sizes and a
limit on the work one group's walk may take.

Torch-Pruning finds a group by walking the dependency graph from a root layer's output channels,
mapping the channel indices through every concatenation, split and reshape on the way. Where a
model reshapes channels in a way the index mappings misread (Swin's window partition read as
a flatten with stride 32), the walk goes round a cycle that multiplies the index
lists at every turn: tens of millions of indices, then the machine's memory. This module walks
the same graph root by root but charges every index a mapping reads or writes to the group being
searched, and gives up on that group past ``SEARCH_LIMIT``. A group given up on is left whole,
its root named in ``GroupSearch.unresolved``; every group whose walk finished is the group
Torch-Pruning's own search finds.

``SEARCH_LIMIT`` is 2,000,000 indices: the largest finished search measured (VGG-11, DenseNet-121,
EfficientNet-B0, ConvNeXt-T, ViT-B/16, RegNetY-400MF, MobileNetV3-L, ResNet-50, GoogLeNet, Swin-T
at 64 pixels) is VGG-11's 153,600 (its classifier reading 512 channels through a 7x7 flatten, a
few times over), so a legitimate search has a margin of 13x, and one given up on costs a few
seconds.

``dependency_graph`` gives that graph the sizes every concatenation joined, measured while
tracing, where Torch-Pruning would infer them by a recursive walk that gives up in deep models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

SEARCH_LIMIT = 2_000_000


class _SearchTooLarge(Exception):
    """Raised inside the walk when one group's index work passes the limit."""


@dataclass
class _Budget:
    limit: int
    used: int = 0
    touched: set[int] = field(default_factory=set)  # ids of modules the walk mapped into

    def reset(self) -> None:
        self.used = 0
        self.touched = set()

    def charge(self, indices: int) -> None:
        self.used += indices
        if self.used > self.limit:
            raise _SearchTooLarge


class _BoundedMapping:
    """One index mapping of a dependency, charging its input and output to the budget."""

    def __init__(self, mapping: Callable[[Any], Any], target: Any, budget: _Budget) -> None:
        self.mapping, self.target, self.budget = mapping, target, budget

    def __call__(self, idxs: Sequence[Any]) -> Any:
        self.budget.touched.add(id(self.target))
        self.budget.charge(len(idxs))  # before the call: one call can multiply its input
        out = self.mapping(idxs)
        self.budget.charge(len(out))
        return out


class _BoundedMappings(list):
    """A dependency's list of index mappings whose entries stay bounded when Torch-Pruning
    replaces them (it rewrites the mappings at the start of every group search)."""

    def __init__(self, items: Iterable[Any], target: Any, budget: _Budget) -> None:
        super().__init__(items)
        self.target, self.budget = target, budget
        for i, item in enumerate(list(self)):
            self[i] = item

    def __setitem__(self, index: Any, value: Any) -> None:
        if value is not None and not isinstance(value, _BoundedMapping):
            value = _BoundedMapping(value, self.target, self.budget)
        super().__setitem__(index, value)


class _CatSizes(TorchFunctionMode):
    """Records, for every concatenation run while tracing, the sizes it joins along its
    dimension, keyed by the autograd node of its output."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: dict[Any, list[int]] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in _CONCATENATIONS and torch.is_tensor(out) and out.grad_fn is not None:
            tensors = args[0] if args else kwargs["tensors"]
            dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
            self.sizes[out.grad_fn] = [int(t.shape[dim]) for t in tensors]
        return out


_CONCATENATIONS = (torch.cat, torch.concat, torch.concatenate)


def dependency_graph() -> Any:
    """A Torch-Pruning ``DependencyGraph`` whose concatenations know the sizes they join.

    Torch-Pruning infers each input's channel count by walking the graph recursively and gives
    up past a depth of 500 nodes; deep stages (Swin-S/B's 18 blocks before a patch merging) then
    leave a concatenation's sizes unknown, and its index mapping fails. The sizes measured while
    tracing are exact, so they are set on the concatenation nodes before any mapping is built.
    """
    import torch_pruning as tp

    class SizedConcatenations(tp.DependencyGraph):
        # Torch-Pruning 1.6's tracing step (the pyproject allows >=1.6,<2): if a release
        # renames it, this override is simply not called and its own inference is used again.
        def _trace(self, model, example_inputs, forward_fn, output_transform):  # noqa: ANN001
            with _CatSizes() as recorder:
                module2node = super()._trace(model, example_inputs, forward_fn, output_transform)
            for node in module2node.values():
                sizes = recorder.sizes.get(node.grad_fn)
                if node.type == tp.ops.OPTYPE.CONCAT and sizes is not None:
                    node.module.concat_sizes = sizes
            return module2node

    return SizedConcatenations()


@dataclass(frozen=True)
class GroupSearch:
    """The finished Torch-Pruning groups, and the root layers whose search was given up on."""

    groups: list[Any]
    unresolved: list[nn.Module]


def search_groups(
    graph: Any,
    *,
    ignored_layers: Sequence[nn.Module],
    root_module_types: tuple[type, ...],
    limit: int | None = None,
) -> GroupSearch:
    """Every group of ``graph`` rooted at the output channels of a ``root_module_types`` layer,
    as Torch-Pruning's ``get_all_groups`` finds them, each search bounded by ``limit`` indices
    (``SEARCH_LIMIT`` unless given).

    A root whose search is given up on is reported, and the layers its walk reached are not
    tried as roots again (their walks run into the same cycle). Groups touching an ignored
    layer's output channels are dropped, as Torch-Pruning drops them.
    """
    budget = _Budget(SEARCH_LIMIT if limit is None else limit)
    for node in graph.module2node.values():
        for dep in node.dependencies:
            dep.index_mapping = _BoundedMappings(dep.index_mapping, dep.target.module, budget)
    ignored = {id(m) for m in list(ignored_layers) + list(graph.IGNORED_LAYERS_IN_TRACING)}
    visited: set[int] = set()
    given_up: set[int] = set()
    groups, unresolved = [], []
    for module in list(graph.module2node):
        if id(module) in ignored or id(module) in visited or id(module) in given_up:
            continue
        if not isinstance(module, root_module_types):
            continue
        pruner = graph.get_pruner_of_module(module)
        channels = None if pruner is None else pruner.get_out_channels(module)
        if channels is None:
            continue
        budget.reset()
        try:
            group = graph.get_pruning_group(
                module, pruner.prune_out_channels, list(range(channels))
            )
        except _SearchTooLarge:
            unresolved.append(module)
            given_up |= budget.touched
            continue
        outputs = [d.target.module for d, _ in group if graph.is_out_channel_pruning_fn(d.handler)]
        visited |= {id(m) for m in outputs}
        if not any(id(m) in ignored for m in outputs):
            groups.append(group)
    return GroupSearch(groups, unresolved)
