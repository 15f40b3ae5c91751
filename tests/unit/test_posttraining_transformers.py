"""Tiny GPT-2 and LLaMA built from config (no downloads) compressed end to end, saved with
save_pretrained and with the packed int4 export, reloaded to identical logits; 2:4 storage in
torch's semi-structured layout."""

from __future__ import annotations

import pytest
import torch

from tomoprune.posttraining import GPTQ, RTN, SparseGPT, Wanda, compress_
from tomoprune.posttraining.export import (
    dense_from_24,
    load_quantized,
    pack_codes,
    save_quantized,
    semi_structured_24,
    unpack_codes,
)

transformers = pytest.importorskip("transformers")


def tiny(kind: str):
    torch.manual_seed(0)
    if kind == "gpt2":
        config = transformers.GPT2Config(
            vocab_size=256,
            n_positions=64,
            n_embd=64,
            n_layer=2,
            n_head=2,
            bos_token_id=0,
            eos_token_id=0,
        )
        return transformers.GPT2LMHeadModel(config).eval()
    config = transformers.LlamaConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=0,
        eos_token_id=0,
    )
    return transformers.LlamaForCausalLM(config).eval()


def tokens(n: int = 4, length: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_tiny_causal_lm_compressed_saved_and_reloaded_to_identical_logits(kind, tmp_path):
    model = tiny(kind)
    ids = tokens()
    dense_logits = model(tokens(2, 16, seed=1)).logits
    calibration = [{"input_ids": ids[:2]}, {"input_ids": ids[2:]}]
    report = compress_(model, GPTQ(bits=4, group_size=32, act_order=True), calibration=calibration)
    names = [r["layer"] for r in report.layers]
    assert "lm_head" not in names or kind == "llama"
    assert len(names) >= 8
    logits = model(tokens(2, 16, seed=1)).logits
    assert not torch.equal(logits, dense_logits)
    model.save_pretrained(tmp_path / "hf")
    reloaded = type(model).from_pretrained(tmp_path / "hf").eval()
    assert torch.equal(reloaded(tokens(2, 16, seed=1)).logits, logits)
    size = save_quantized(model, report, tmp_path / "packed.safetensors")
    fresh = load_quantized(tiny(kind), tmp_path / "packed.safetensors")
    assert torch.equal(fresh(tokens(2, 16, seed=1)).logits, logits)
    dense_bytes = 4 * sum(p.numel() for p in model.parameters())
    assert size < dense_bytes


def test_attention_projections_sharing_an_input_are_one_sequential_step():
    model = tiny("llama")
    report = compress_(model, Wanda(nm="2:4"), calibration=tokens(), layers=["*.self_attn.*_proj"])
    assert [r["layer"].split(".")[-1] for r in report.layers[:4]] == [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
    ]
    assert all(r["density"] == 0.5 for r in report.layers)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_codes_pack_and_unpack(bits):
    codes = torch.randint(0, 2**bits, (5, 37), generator=torch.Generator().manual_seed(bits))
    packed = pack_codes(codes, bits)
    assert packed.shape == (5, -(-37 * bits // 8))
    assert torch.equal(unpack_codes(packed, bits, 37), codes.to(torch.int32))
    if bits == 4:  # two codes a byte, the first in the low nibble
        assert int(packed[0, 0]) == int(codes[0, 0]) + 16 * int(codes[0, 1])


def test_rtn_export_reloads_identically(tmp_path):
    model = tiny("gpt2")
    report = compress_(model, RTN(bits=3, group_size=16), layers="*.mlp.*")
    logits = model(tokens(1, 8)).logits
    save_quantized(model, report, tmp_path / "rtn.safetensors")
    fresh = load_quantized(tiny("gpt2"), tmp_path / "rtn.safetensors")
    assert torch.equal(fresh(tokens(1, 8)).logits, logits)


def test_two_of_four_weights_in_torch_semi_structured_layout():
    model = tiny("llama")
    compress_(model, SparseGPT(nm="2:4"), calibration=tokens(), layers="*.mlp.up_proj")
    weight = model.model.layers[0].mlp.up_proj.weight.detach().half()
    values, meta = semi_structured_24(weight)
    assert values.shape == (128, 32) and meta.dtype == torch.int16
    assert torch.equal(dense_from_24(values, meta), weight)
