"""Attention heads as unit groups: whole heads of hand-written attention layers.

Inside an attention layer the query, key and value projections compute ``heads x head_dim``
rows and the output projection reads them back as columns. Channels inside one head are not
independent (the query-key dot product sums over them and the softmax scale depends on
``head_dim``), so the unit is a whole head: its ``head_dim`` rows of q, k and v and its
``head_dim`` columns of the output projection. With grouped-query attention (fewer key/value
heads than query heads, each k/v head shared by ``heads / kv_heads`` query heads) the unit is one
k/v head together with the query heads that read it, so every k/v head keeps the same number of
query heads. Removing a unit is exactly zeroing its columns of the output projection.

The layers are recognised by their structure, not their class, so the rules cover the families
that share one:

- ``qkvo``: ``q_proj``, ``k_proj``, ``v_proj``, ``o_proj`` Linear children and an integer
  ``head_dim`` (Hugging Face LLaMA, Mistral, Qwen2, Gemma, ... and hand-written layers alike);
- ``bert``: ``query``, ``key``, ``value`` Linear children with ``num_attention_heads`` and
  ``attention_head_size``, the output projection being the sibling ``output.dense`` (BERT,
  RoBERTa, ViT, DeiT);
- ``gpt2``: one ``c_attn`` projection holding q, k and v side by side and ``c_proj`` (GPT-2's
  transposed ``Conv1D``), with ``num_heads`` and ``head_dim``.

``nn.MultiheadAttention`` cannot change its head count in place (its in-projection must be as
wide as its input), so its channels are sliced by ``structure.layers`` instead, one channel
slot of every head at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from tomoprune.structure.groups import Member, UnitGroup

Family = Literal["qkvo", "bert", "gpt2"]


@dataclass(frozen=True)
class AttentionBlock:
    """One attention layer: where its projections are and how its heads are laid out."""

    name: str
    family: Family
    q: str
    k: str
    v: str
    o: str
    head_dim: int
    heads: int
    kv_heads: int

    def internal_keys(self) -> set[tuple[str, bool]]:
        """(layer, output side?) of the head channels, which only whole heads may remove."""
        return {(self.q, True), (self.k, True), (self.v, True), (self.o, False)}

    def module_ids(self, model: nn.Module) -> set[int]:
        return {id(model.get_submodule(n)) for n in (self.name, self.q, self.k, self.v, self.o)}


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def _rows(module: nn.Module) -> int:
    """Output width of a Linear or a transposed ``Conv1D``."""
    return module.weight.shape[0] if isinstance(module, nn.Linear) else module.weight.shape[1]


def _block(model: nn.Module, name: str, module: nn.Module) -> AttentionBlock | None:
    children = dict(module.named_children())
    linear = lambda n: isinstance(children.get(n), nn.Linear)  # noqa: E731
    if all(linear(n) for n in ("q_proj", "k_proj", "v_proj", "o_proj")) and isinstance(
        getattr(module, "head_dim", None), int
    ):
        d = module.head_dim
        q, k = children["q_proj"], children["k_proj"]
        return AttentionBlock(
            name,
            "qkvo",
            *(_join(name, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj")),
            head_dim=d,
            heads=q.weight.shape[0] // d,
            kv_heads=k.weight.shape[0] // d,
        )
    if all(linear(n) for n in ("query", "key", "value")) and hasattr(module, "attention_head_size"):
        parent = name.rpartition(".")[0]
        try:
            dense = model.get_submodule(_join(parent, "output.dense"))
        except AttributeError:
            return None
        if not isinstance(dense, nn.Linear):
            return None
        d = int(module.attention_head_size)
        heads = children["query"].weight.shape[0] // d
        return AttentionBlock(
            name,
            "bert",
            *(_join(name, n) for n in ("query", "key", "value")),
            _join(parent, "output.dense"),
            head_dim=d,
            heads=heads,
            kv_heads=children["key"].weight.shape[0] // d,
        )
    if {"c_attn", "c_proj"} <= set(children) and hasattr(module, "split_size"):
        if getattr(module, "is_cross_attention", False):
            return None
        d = int(module.head_dim)
        heads = _rows(children["c_attn"]) // (3 * d)
        c_attn, c_proj = _join(name, "c_attn"), _join(name, "c_proj")
        return AttentionBlock(name, "gpt2", c_attn, c_attn, c_attn, c_proj, d, heads, heads)
    return None


def find_attention(model: nn.Module) -> list[AttentionBlock]:
    """Every attention layer of ``model`` that heads can be removed from, in module order."""
    found = []
    for name, module in model.named_modules():
        block = _block(model, name, module)
        if block is not None:
            found.append(block)
    return found


def find_tied_attention(
    model: nn.Module, recognised: list[AttentionBlock] | None = None
) -> list[nn.Module]:
    """Attention layers whose head size follows their input width, kept whole with the
    channels that pass through them.

    A layer with a fused ``Linear(C, 3C)`` query-key-value projection and an integer
    ``num_heads`` / ``n_heads`` that reshapes it by the width of its input (torchvision's Swin,
    Swin V2 and MaxViT; any layer of that structure is treated alike) ties its heads, its output projection and its relative
    position tables to the residual stream: removing channels from any of them breaks the
    reshape. Such a layer becomes one opaque node of the group search (like an ignored layer),
    so the groups around it (the MLPs, the convolutions) stay removable and nothing runs into
    its reshapes. Layers ``find_attention`` recognises (``recognised``, found here when not
    given) are not included: their heads are removed whole.
    """
    blocks = find_attention(model) if recognised is None else recognised
    names = {b.name for b in blocks}
    found = []
    for name, module in model.named_modules():
        heads = getattr(module, "num_heads", getattr(module, "n_heads", None))
        if name in names or not isinstance(heads, int) or isinstance(module, nn.MultiheadAttention):
            continue
        if any(
            isinstance(child, nn.Linear) and child.out_features == 3 * child.in_features
            for child in module.children()
        ):
            found.append(module)
    return found


def _positions(heads: list[int], d: int, offset: int = 0) -> torch.Tensor:
    return torch.tensor([offset + h * d + i for h in heads for i in range(d)], dtype=torch.long)


def head_group(model: nn.Module, block: AttentionBlock) -> UnitGroup:
    """The unit group of ``block``'s heads: unit ``j`` is k/v head ``j`` and its query heads."""
    d, rep = block.head_dim, block.heads // block.kv_heads
    q_heads = list(range(block.heads))
    q_units = torch.tensor([h // rep for h in q_heads for _ in range(d)], dtype=torch.long)
    kv_units = torch.tensor([h for h in range(block.kv_heads) for _ in range(d)])
    members: list[Member] = []

    def add(layer: str, positions: torch.Tensor, units: torch.Tensor, out: bool) -> None:
        module = model.get_submodule(layer)
        transposed = not isinstance(module, nn.Linear)  # GPT-2's Conv1D: weight is (in, out)
        weight_dim = (1 if transposed else 0) if out else (0 if transposed else 1)
        role = "producer" if out else "consumer"
        members.append(Member(f"{layer}.weight", weight_dim, positions, units, role))
        if out and getattr(module, "bias", None) is not None:
            members.append(Member(f"{layer}.bias", 0, positions, units, "state"))

    if block.family == "gpt2":
        width = block.heads * d
        positions = torch.cat([_positions(q_heads, d, k * width) for k in range(3)])
        add(block.q, positions, q_units.repeat(3), True)
    else:
        add(block.q, _positions(q_heads, d), q_units, True)
        kv = list(range(block.kv_heads))
        add(block.k, _positions(kv, d), kv_units, True)
        add(block.v, _positions(kv, d), kv_units, True)
    add(block.o, _positions(q_heads, d), q_units, False)
    producers = tuple(dict.fromkeys((block.q, block.k, block.v)))
    return UnitGroup(
        name=block.q,
        width=block.kv_heads,
        producers=producers,
        consumers=(block.o,),
        members=tuple(members),
    )


def sync_attention(model: nn.Module, before: list[AttentionBlock]) -> None:
    """Make each attention layer's head counts agree with its sliced projections.

    ``before`` are the layers as found before slicing (their head size does not change).
    """
    for block in before:
        module = model.get_submodule(block.name)
        q = model.get_submodule(block.q)
        heads = _rows(q) // block.head_dim // (3 if block.family == "gpt2" else 1)
        kv_heads = model.get_submodule(block.k).weight.shape[0] // block.head_dim
        if block.family == "qkvo":
            for attr, value in (("num_heads", heads), ("num_key_value_heads", kv_heads)):
                if hasattr(module, attr):
                    setattr(module, attr, value)
        elif block.family == "bert":
            module.num_attention_heads = heads
            module.all_head_size = heads * block.head_dim
        else:
            module.num_heads = heads
            module.split_size = heads * block.head_dim


# -- MLPs of transformer blocks ---------------------------------------------------------------
# (producer layers, consumer layer) relative to a block, by family: LLaMA-style gated MLPs,
# BERT/ViT's intermediate/output pair, GPT-2's c_fc/c_proj.
_MLP_LAYOUTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("mlp.gate_proj", "mlp.up_proj"), "mlp.down_proj"),
    (("intermediate.dense",), "output.dense"),
    (("mlp.c_fc",), "mlp.c_proj"),
    (("mlp.fc1",), "mlp.fc2"),
)


def _linear_like(module: nn.Module | None) -> bool:
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


def find_mlp_groups(model: nn.Module) -> list[UnitGroup]:
    """The hidden neurons of every transformer block's MLP, found by the layouts above: unit
    ``j`` is row ``j`` of each producer (up/gate projection) and column ``j`` of the down
    projection. Used for Hugging Face models, whose blocks follow these layouts."""
    modules = dict(model.named_modules())
    groups = []
    for name in modules:
        for producers, consumer in _MLP_LAYOUTS:
            names = [_join(name, p) for p in producers]
            down = _join(name, consumer)
            if not all(_linear_like(modules.get(n)) for n in (*names, down)):
                continue
            width = _rows(modules[names[0]])
            if any(_rows(modules[n]) != width for n in names):
                continue
            units = torch.arange(width)
            members: list[Member] = []
            for n in names:
                transposed = not isinstance(modules[n], nn.Linear)
                members.append(Member(f"{n}.weight", int(transposed), units, units, "producer"))
                if getattr(modules[n], "bias", None) is not None:
                    members.append(Member(f"{n}.bias", 0, units, units, "state"))
            transposed = not isinstance(modules[down], nn.Linear)
            members.append(Member(f"{down}.weight", int(not transposed), units, units, "consumer"))
            groups.append(UnitGroup(names[0], width, tuple(names), (down,), tuple(members)))
    return groups
