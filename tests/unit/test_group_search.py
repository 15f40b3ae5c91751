"""The bounded group search and attention layers whose head size follows their input width.

The search's oracle is Torch-Pruning's own ``get_all_groups`` (the same walk, unbounded): the
groups must be identical wherever the bound is not reached. Removal around a width-tied
attention layer is checked against the original model with the removed units' outgoing
columns zeroed by hand.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn

import tomoprune.structure.groups as groups_module
from tomoprune.errors import UnresolvedGroupsWarning
from tomoprune.structure import apply_removal, find_groups, plan_removal, search
from tomoprune.structure.search import GroupSearch


def _torch_pruning_search(graph, *, ignored_layers, root_module_types, limit=None):
    found = graph.get_all_groups(
        ignored_layers=list(ignored_layers), root_module_types=root_module_types
    )
    return GroupSearch(list(found), [])


def _layout(groups):
    return [
        (
            g.name,
            g.width,
            [(m.tensor, m.dim, m.positions.tolist(), m.units.tolist(), m.role) for m in g.members],
        )
        for g in groups
    ]


class _Branches(nn.Module):
    """Concatenation, a residual addition and a flatten into the classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.left = nn.Conv2d(6, 4, 1)
        self.right = nn.Conv2d(6, 5, 3, padding=1)
        self.mix = nn.Conv2d(9, 6, 1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(6 * 4 * 4, 7), nn.ReLU(), nn.Linear(7, 3))

    def forward(self, x):
        x = torch.relu(self.stem(x))
        y = torch.cat([self.left(x), self.right(x)], dim=1)
        return self.head(torch.relu(self.mix(y) + x))


def test_the_bounded_search_finds_the_groups_torch_pruning_finds(monkeypatch):
    torch.manual_seed(0)
    net, x = _Branches(), torch.randn(2, 3, 4, 4)
    bounded = find_groups(net, x)
    monkeypatch.setattr(groups_module, "search_groups", _torch_pruning_search)
    unbounded = find_groups(net, x)
    assert len(bounded) == 4
    assert _layout(bounded) == _layout(unbounded)


def test_a_search_past_its_bound_leaves_that_group_whole_and_warns_in_one_line(monkeypatch):
    # the conv's 4 channels reach the first Linear through a flatten of stride 16: at least
    # 4 + 64 indices mapped, past a bound of 20; the Linear's own group maps none
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64, 5),
        nn.ReLU(),
        nn.Linear(5, 2),
    )
    x = torch.randn(2, 3, 4, 4)
    monkeypatch.setattr(search, "SEARCH_LIMIT", 20)
    with pytest.warns(UnresolvedGroupsWarning) as caught:
        found = find_groups(net, x)
    message = str(caught[0].message)
    assert "\n" not in message and message.startswith("1 unit group(s) left whole")
    assert "of 0 ran past its bound" in message
    assert [g.name for g in found] == ["3"]
    monkeypatch.setattr(search, "SEARCH_LIMIT", 1000)  # room for the conv group's walk
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnresolvedGroupsWarning)
        assert [g.name for g in find_groups(net, x)] == ["0", "3"]


class _WindowAttention(nn.Module):
    """Fused q/k/v whose head size is the input width over ``num_heads`` (as in Swin), with a
    per-head relative bias table."""

    def __init__(self, dim: int, num_heads: int, tokens: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.randn(tokens, num_heads))

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = q @ k.transpose(-2, -1) * (c // self.num_heads) ** -0.5
        attn = attn + self.relative_position_bias_table.t()[None, :, :, None]
        out = (attn.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(out)


class _Block(nn.Module):
    def __init__(self, dim: int = 8, heads: int = 2, tokens: int = 5) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = _WindowAttention(dim, heads, tokens)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.head = nn.Linear(dim, 3)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return self.head(x.mean(1))


def test_attention_tied_to_its_input_width_stays_whole_and_its_mlp_is_removable():
    torch.manual_seed(0)
    net, x = _Block(), torch.randn(2, 5, 8)
    found = find_groups(net, x)
    assert [g.name for g in found] == ["mlp.0"]
    (group,) = found
    assert {m.tensor.partition(".")[0] for m in group.members} == {"mlp"}
    keep = [u for u in range(group.width) if u not in (1, 5, 30)]
    pruned = apply_removal(net, plan_removal(net, found, {"mlp.0": keep}))
    oracle = copy.deepcopy(net)
    with torch.no_grad():
        oracle.mlp[2].weight[:, [1, 5, 30]] = 0.0
    net.eval(), pruned.eval(), oracle.eval()
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), oracle(x), rtol=1e-5, atol=1e-6)
    assert pruned.mlp[0].out_features == 29 and pruned.attn.qkv.out_features == 24


@pytest.mark.parametrize("version", [1, 2])
def test_torchvision_swin_prunes_its_mlps_exactly(version):
    torchvision = pytest.importorskip("torchvision")
    swin = torchvision.models.swin_transformer
    extra = (
        {"block": swin.SwinTransformerBlockV2, "downsample_layer": swin.PatchMergingV2}
        if version == 2
        else {}
    )
    torch.manual_seed(0)
    net = swin.SwinTransformer(
        patch_size=[4, 4],
        embed_dim=16,
        depths=[1, 1],
        num_heads=[2, 4],
        window_size=[4, 4],
        num_classes=5,
        **extra,
    ).eval()
    x = torch.randn(2, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnresolvedGroupsWarning)
        found = find_groups(net, x)
    assert [g.name for g in found] == ["features.1.0.mlp.0", "features.3.0.mlp.0"]
    removed = {"features.1.0.mlp.0": [0, 7, 63], "features.3.0.mlp.0": [2, 100]}
    keep = {g.name: [u for u in range(g.width) if u not in removed[g.name]] for g in found}
    pruned = apply_removal(net, plan_removal(net, found, keep)).eval()
    oracle = copy.deepcopy(net)
    with torch.no_grad():
        for name, units in removed.items():
            oracle.get_submodule(name.replace("mlp.0", "mlp.3")).weight[:, units] = 0.0
        torch.testing.assert_close(pruned(x), oracle(x), rtol=1e-5, atol=1e-5)


class _DeepPatchMerging(nn.Module):
    """A residual stream 250 blocks deep, then a patch merging: four strided spatial slices
    concatenated along the channels, a BatchNorm and a 1x1 convolution over the 4C result."""

    def __init__(self, depth: int = 250, channels: int = 4) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(depth))
        self.norm = nn.BatchNorm2d(4 * channels)
        self.reduction = nn.Conv2d(4 * channels, 3, 1)

    def forward(self, x):  # (B, C, H, W)
        for block in self.blocks:
            x = x + block(x)
        quarters = [x[..., 0::2, 0::2], x[..., 1::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 1::2]]
        return self.reduction(self.norm(torch.cat(quarters, 1))).mean((2, 3))


def test_a_concatenation_deep_in_the_model_maps_each_channel_to_its_four_copies():
    # Torch-Pruning's own inference of the concatenated sizes gives up this deep (a TypeError
    # inside its concat mapping); the sizes measured while tracing place stream channel u at
    # u, u + 4, u + 8 and u + 12 of the merged channels
    net, x = _DeepPatchMerging(), torch.randn(2, 4, 4, 4)
    (stream,) = [g for g in find_groups(net, x) if "norm.weight" in {m.tensor for m in g.members}]
    assert stream.width == 4
    for tensor in ("norm.weight", "norm.running_mean", "reduction.weight"):
        (member,) = [m for m in stream.members if m.tensor == tensor]
        assert member.positions.tolist() == list(range(16))
        assert member.units.tolist() == [p % 4 for p in range(16)]
