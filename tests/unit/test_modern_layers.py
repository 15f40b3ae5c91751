"""Unit groups of the modern layer set, each against an oracle written by hand.

For an exact dependency rule the oracle is the original model with the removed units' outgoing
contribution zeroed by hand (the columns that read them); the pruned model must give the same
outputs. Where removal cannot be exact by construction (a norm's statistics or an attention
head's width change with the channels it covers), the oracle recomputes the layer in float64
numpy over the kept channels only.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from tomoprune.errors import UnsupportedModelError
from tomoprune.structure import apply_removal, find_groups, plan_removal


def _prune(model: nn.Module, inputs, removed: dict[str, list[int]]):
    groups = find_groups(model, inputs)
    by_name = {g.name: g for g in groups}
    keep = {n: [u for u in range(by_name[n].width) if u not in r] for n, r in removed.items()}
    return apply_removal(model, plan_removal(model, groups, keep)), by_name


def _zero(tensor: torch.Tensor, dim: int, index: list[int]) -> None:
    with torch.no_grad():
        tensor.index_fill_(dim, torch.tensor(index), 0.0)


def _run(model: nn.Module, inputs):
    model.eval()
    with torch.no_grad():
        if isinstance(inputs, dict):
            return model(**inputs)
        return model(inputs)


def _randomise_norms(model: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def test_depthwise_separable_channels_are_removed_through_the_depthwise_conv():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 6, 1), nn.BatchNorm2d(6), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4),
    )  # fmt: skip
    _randomise_norms(net)
    x = torch.randn(2, 3, 7, 7)
    pruned, groups = _prune(net, x, {"0": [1, 5]})
    assert groups["0"].producers == ("0", "3")  # the depthwise conv computes the unit too
    oracle = copy.deepcopy(net)
    _zero(oracle[6].weight, 1, [1, 5])  # the pointwise conv reading the depthwise output
    assert pruned[3].groups == pruned[3].in_channels == pruned[3].out_channels == 6
    torch.testing.assert_close(_run(pruned, x), _run(oracle, x), rtol=1e-5, atol=1e-6)


def test_grouped_convolution_removes_one_channel_slot_of_every_group():
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=2), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 5, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 3),
    )  # fmt: skip
    _randomise_norms(net)
    x = torch.randn(2, 3, 6, 6)
    pruned, groups = _prune(net, x, {"0": [1], "3": [2]})
    assert groups["0"].width == 4 and groups["3"].width == 4  # 8 channels = 2 groups x 4 slots
    oracle = copy.deepcopy(net)
    _zero(oracle[3].weight, 1, [1])  # input slot 1 of each group of the grouped conv
    _zero(oracle[6].weight, 1, [2, 6])  # output slot 2 of each group: channels 2 and 6
    assert pruned[3].weight.shape == (6, 3, 3, 3) and pruned[3].groups == 2
    torch.testing.assert_close(_run(pruned, x), _run(oracle, x), rtol=1e-5, atol=1e-6)


class _Attention(nn.Module):
    """Hand-written grouped-query attention in the q/k/v/o layout of LLaMA-style models."""

    def __init__(self, dim: int, heads: int, kv_heads: int, head_dim: int) -> None:
        super().__init__()
        self.head_dim = head_dim
        self.q_proj = nn.Linear(dim, heads * head_dim)
        self.k_proj = nn.Linear(dim, kv_heads * head_dim)
        self.v_proj = nn.Linear(dim, kv_heads * head_dim)
        self.o_proj = nn.Linear(heads * head_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, -1, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, -1, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, -1, self.head_dim).transpose(1, 2)
        rep = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        w = torch.softmax(q @ k.transpose(-1, -2) / self.head_dim**0.5, dim=-1)
        return self.o_proj((w @ v).transpose(1, 2).reshape(b, t, -1))


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(5, 8)
        self.attn = _Attention(8, heads=4, kv_heads=2, head_dim=3)
        self.out = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        return self.out(h + self.attn(h))


def test_grouped_query_attention_removes_a_kv_head_with_its_query_heads():
    torch.manual_seed(2)
    net = _Block()
    x = torch.randn(2, 4, 5)
    pruned, groups = _prune(net, x, {"attn.q_proj": [1]})
    assert groups["attn.q_proj"].width == 2  # two k/v heads, each shared by two query heads
    oracle = copy.deepcopy(net)
    _zero(oracle.attn.o_proj.weight, 1, list(range(6, 12)))  # query heads 2 and 3
    assert pruned.attn.q_proj.out_features == 6 and pruned.attn.k_proj.out_features == 3
    torch.testing.assert_close(_run(pruned, x), _run(oracle, x), rtol=1e-5, atol=1e-6)


def _layer_norm(h: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = h.mean(-1, keepdims=True)
    var = ((h - mean) ** 2).mean(-1, keepdims=True)
    return (h - mean) / np.sqrt(var + eps) * w + b


def _f64(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


@pytest.mark.parametrize("norm", ["layer", "rms"])
def test_layer_and_rms_norm_renormalise_over_the_kept_channels(norm):
    torch.manual_seed(3)
    n = nn.LayerNorm(6) if norm == "layer" else nn.RMSNorm(6)
    net = nn.Sequential(nn.Linear(5, 6), n, nn.Linear(6, 3))
    with torch.no_grad():
        n.weight.uniform_(0.5, 1.5)
    x = torch.randn(4, 5)
    pruned, _ = _prune(net, x, {"0": [0, 4]})
    kept = [1, 2, 3, 5]
    h = _f64(x) @ _f64(net[0].weight)[kept].T + _f64(net[0].bias)[kept]
    w = _f64(n.weight)[kept]
    if norm == "layer":
        h = _layer_norm(h, w, _f64(n.bias)[kept], n.eps)
    else:
        h = h / np.sqrt((h**2).mean(-1, keepdims=True) + torch.finfo(torch.float32).eps) * w
    expected = h @ _f64(net[2].weight)[:, kept].T + _f64(net[2].bias)
    np.testing.assert_allclose(_run(pruned, x).double().numpy(), expected, rtol=1e-4, atol=1e-5)


def test_group_norm_removes_one_channel_slot_of_every_norm_group():
    torch.manual_seed(4)
    gn = nn.GroupNorm(2, 8)
    net = nn.Sequential(nn.Conv2d(3, 8, 1), gn, nn.Conv2d(8, 4, 1))
    with torch.no_grad():
        gn.weight.uniform_(0.5, 1.5)
        gn.bias.uniform_(-1, 1)
    x = torch.randn(2, 3, 3, 3)
    pruned, groups = _prune(net, x, {"0": [3]})
    assert groups["0"].width == 4 and pruned[1].num_channels == 6
    kept = [0, 1, 2, 4, 5, 6]  # slot 3 of both norm groups: channels 3 and 7
    h = np.einsum("bchw,oc->bohw", _f64(x), _f64(net[0].weight)[kept][:, :, 0, 0])
    h = h + _f64(net[0].bias)[kept][None, :, None, None]
    out = np.empty_like(h)
    for block in (slice(0, 3), slice(3, 6)):
        part = h[:, block]
        mean = part.mean(axis=(1, 2, 3), keepdims=True)
        var = part.var(axis=(1, 2, 3), keepdims=True)
        out[:, block] = (part - mean) / np.sqrt(var + gn.eps)
    out = (
        out * _f64(gn.weight)[kept][None, :, None, None] + _f64(gn.bias)[kept][None, :, None, None]
    )
    expected = np.einsum("bchw,oc->bohw", out, _f64(net[2].weight)[:, kept][:, :, 0, 0])
    expected += _f64(net[2].bias)[None, :, None, None]
    np.testing.assert_allclose(_run(pruned, x).double().numpy(), expected, rtol=1e-4, atol=1e-5)


def test_multihead_attention_channel_slots_match_attention_computed_by_hand():
    torch.manual_seed(5)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Linear(5, 8)
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
            self.out = nn.Linear(8, 3)

        def forward(self, x):
            h = self.inp(x)
            return self.out(self.attn(h, h, h, need_weights=False)[0])

    net = Net()
    x = torch.randn(2, 4, 5)
    pruned, groups = _prune(net, x, {"inp": [1]})
    assert groups["inp"].width == 4  # embed 8 = 2 heads x 4 slots
    assert pruned.attn.embed_dim == 6 and pruned.attn.head_dim == 3
    kept = [0, 2, 3, 4, 6, 7]  # slot 1 of both heads
    h = _f64(x) @ _f64(net.inp.weight)[kept].T + _f64(net.inp.bias)[kept]
    w, b = _f64(net.attn.in_proj_weight), _f64(net.attn.in_proj_bias)
    q, k, v = (
        h @ w[i * 8 : (i + 1) * 8][kept][:, kept].T + b[i * 8 : (i + 1) * 8][kept] for i in range(3)
    )
    heads = []
    for head in (slice(0, 3), slice(3, 6)):
        logits = q[..., head] @ np.swapaxes(k[..., head], -1, -2) / np.sqrt(3)
        p = np.exp(logits - logits.max(-1, keepdims=True))
        heads.append((p / p.sum(-1, keepdims=True)) @ v[..., head])
    a = np.concatenate(heads, -1)
    ow, ob = _f64(net.attn.out_proj.weight)[kept][:, kept], _f64(net.attn.out_proj.bias)[kept]
    expected = (a @ ow.T + ob) @ _f64(net.out.weight)[:, kept].T + _f64(net.out.bias)
    np.testing.assert_allclose(_run(pruned, x).double().numpy(), expected, rtol=1e-4, atol=1e-5)


def test_embedding_hidden_dimension_is_a_unit_group():
    torch.manual_seed(6)
    net = nn.Sequential(nn.Embedding(10, 6), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randint(0, 10, (3, 5))
    pruned, groups = _prune(net, x, {"0": [0, 3]})
    oracle = copy.deepcopy(net)
    _zero(oracle[1].weight, 1, [0, 3])
    assert pruned[0].embedding_dim == 4
    torch.testing.assert_close(_run(pruned, x), _run(oracle, x))


class _Tokens(nn.Module):
    """A class token and position embeddings held as ``nn.Parameter`` attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 6)
        self.class_token = nn.Parameter(torch.randn(1, 1, 6))
        self.position = nn.Parameter(torch.randn(1, 3, 6))
        self.head = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = torch.cat([self.class_token.expand(x.shape[0], -1, -1), self.proj(x)], dim=1)
        return self.head(torch.relu(tokens + self.position)[:, 0])


def test_class_token_and_position_embedding_are_sliced_along_the_hidden_axis():
    torch.manual_seed(7)
    net = _Tokens()
    x = torch.randn(2, 2, 4)
    pruned, groups = _prune(net, x, {"proj": [2]})
    tensors = {m.tensor: m.dim for m in groups["proj"].members}
    assert tensors["class_token"] == 2 and tensors["position"] == 2
    oracle = copy.deepcopy(net)
    _zero(oracle.head.weight, 1, [2])
    assert pruned.class_token.shape == (1, 1, 5) and pruned.position.shape == (1, 3, 5)
    torch.testing.assert_close(_run(pruned, x), _run(oracle, x))


@pytest.mark.parametrize("cell", [nn.LSTM, nn.GRU])
def test_recurrent_hidden_units_are_removed_with_their_recurrent_columns(cell):
    torch.manual_seed(8)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = cell(4, 6, batch_first=True)
            self.head = nn.Linear(6, 3)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out[:, -1])

    net = Net()
    x = torch.randn(2, 5, 4)
    pruned, groups = _prune(net, x, {"rnn": [1, 4]})
    oracle = copy.deepcopy(net)
    _zero(oracle.rnn.weight_hh_l0, 1, [1, 4])  # what the removed units feed back
    _zero(oracle.head.weight, 1, [1, 4])  # and what they feed forward
    assert pruned.rnn.hidden_size == 4
    torch.testing.assert_close(_run(pruned, x), _run(oracle, x), rtol=1e-5, atol=1e-6)


class _KeywordModel(nn.Module):
    """Keyword inputs; a dict output holding a tuple and a dataclass-like nested result."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 6)
        self.b = nn.Linear(6, 3)

    def forward(self, features: torch.Tensor, scale: torch.Tensor | None = None) -> dict:
        h = torch.relu(self.a(features))
        if scale is not None:
            h = h * scale
        return {"logits": self.b(h), "extra": (features.sum(), None, "note")}


def test_keyword_inputs_and_dict_tuple_outputs_are_traced():
    torch.manual_seed(9)
    net = _KeywordModel()
    inputs = {"features": torch.randn(3, 4), "scale": torch.tensor(2.0)}
    pruned, groups = _prune(net, inputs, {"a": [0, 5]})
    assert list(groups) == ["a"]
    oracle = copy.deepcopy(net)
    _zero(oracle.b.weight, 1, [0, 5])
    got, want = _run(pruned, inputs), _run(oracle, inputs)
    torch.testing.assert_close(got["logits"], want["logits"])
    torch.testing.assert_close(got["extra"][0], want["extra"][0])


def test_model_output_dataclass_is_traced():
    transformers = pytest.importorskip("transformers")
    from transformers.modeling_outputs import BaseModelOutput

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 5), nn.Linear(5, 2)

        def forward(self, x):
            return BaseModelOutput(last_hidden_state=self.b(torch.relu(self.a(x))))

    assert transformers is not None
    groups = find_groups(Net(), torch.randn(2, 4))
    assert [g.name for g in groups] == ["a"]


class _Custom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.kernel = nn.Parameter(torch.randn(4, 4))

    def forward(self, x):
        return x @ self.kernel


def test_an_unknown_layer_with_a_matrix_is_refused_in_one_line_naming_the_fix():
    net = nn.Sequential(nn.Linear(3, 4), _Custom(), nn.Linear(4, 2))
    with pytest.raises(UnsupportedModelError) as err:
        find_groups(net, torch.randn(2, 3))
    message = str(err.value)
    assert "\n" not in message
    assert "'1' (_Custom)" in message and "ignored_layers=[model.1]" in message
    # the fix works: with the layer ignored, the groups on either side of it are cut off
    assert find_groups(net, torch.randn(2, 3), ignored_layers=[net[1]]) == []


def test_a_stacked_lstm_is_refused_in_one_line():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(4, 6, num_layers=2)
            self.head = nn.Linear(6, 2)

        def forward(self, x):
            return self.head(self.rnn(x)[0])

    with pytest.raises(UnsupportedModelError, match=r"^layer 'rnn' \(LSTM\) .*ignored_layers"):
        find_groups(Net(), torch.randn(3, 2, 4))


def test_a_model_that_rejects_the_example_inputs_is_refused_in_one_line():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(UnsupportedModelError) as err:
        find_groups(net, torch.randn(2, 7))
    assert "\n" not in str(err.value) and "could not be traced" in str(err.value)


def test_shufflenets_channel_shuffle_is_refused_in_one_line_naming_the_dependency_analysis():
    torchvision = pytest.importorskip("torchvision")
    net = torchvision.models.shufflenet_v2_x0_5(weights=None).eval()
    with pytest.raises(UnsupportedModelError) as err:
        find_groups(net, torch.randn(1, 3, 32, 32))
    message = str(err.value)
    assert "\n" not in message and "the model ran" in message and "ignored_layers" in message


def _small_vit() -> nn.Module:
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(10)
    return torchvision.models.VisionTransformer(
        image_size=16, patch_size=8, num_layers=2, num_heads=2, hidden_dim=8, mlp_dim=12,
        num_classes=3,
    ).eval()  # fmt: skip


def _depthwise_separable() -> nn.Module:
    torch.manual_seed(11)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU6(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.ReLU6(),
        nn.Conv2d(8, 8, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3),
    ).eval()  # fmt: skip


@pytest.mark.parametrize("build", [_depthwise_separable, _small_vit], ids=["dw-separable", "vit"])
def test_pruned_modern_models_export_to_onnx_and_agree_under_onnxruntime(build, tmp_path):
    from tomoprune import Compressor, Schedule
    from tomoprune.export.onnx import export_onnx, verify_onnx

    model = build()
    x = torch.randn(2, 3, 16, 16)
    compressor = Compressor(
        model, x, scorer="magnitude", schedule=Schedule(fraction=0.4, min_width=1)
    )
    compressor.step()
    pruned = compressor.model.eval()
    assert sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in model.parameters())
    path = export_onnx(pruned, x, tmp_path / "model.onnx")
    assert verify_onnx(path, pruned, torch.randn(3, 3, 16, 16)).passed
