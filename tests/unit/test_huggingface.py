"""Hugging Face transformers (tiny configs, random weights): heads and MLP neurons removed
through the five-line API, against the original with those heads' and neurons' outgoing
columns zeroed by hand; the config rewritten so ``from_pretrained`` reloads the pruned model
exactly, and tomoprune's own record reloads it too."""

from __future__ import annotations

import copy

import pytest
import torch

from tomoprune import Compressor, Schedule
from tomoprune.api import load_compressed

transformers = pytest.importorskip("transformers")


def _removed(compressor: Compressor, name: str) -> list[int]:
    width = compressor.record.original_widths[name]
    return sorted(set(range(width)) - set(compressor.record.kept[name]))


def _zero(weight: torch.Tensor, dim: int, index: list[int]) -> None:
    with torch.no_grad():
        weight.index_fill_(dim, torch.tensor(index, dtype=torch.long), 0.0)


def _cols(units: list[int], size: int) -> list[int]:
    return [u * size + i for u in units for i in range(size)]


def _compress(model, inputs) -> Compressor:
    compressor = Compressor(
        model, inputs, scorer="magnitude", schedule=Schedule(fraction=0.5, min_width=1)
    )
    compressor.step()
    return compressor


def _logits(model, inputs) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(**inputs).logits


def _tiny_llama():
    config = transformers.LlamaConfig(
        vocab_size=40,
        hidden_size=16,
        intermediate_size=24,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32,
    )
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).eval()


def _tiny_gpt2():
    config = transformers.GPT2Config(
        vocab_size=40, n_embd=16, n_layer=2, n_head=4, n_positions=32, n_inner=24
    )
    torch.manual_seed(1)
    return transformers.GPT2LMHeadModel(config).eval()


def test_llama_gqa_heads_and_mlp_neurons_match_the_hand_zeroed_model(tmp_path):
    model = _tiny_llama()
    inputs = {"input_ids": torch.randint(0, 40, (2, 7))}
    compressor = _compress(model, inputs)
    oracle = copy.deepcopy(model)
    for i, layer in enumerate(oracle.model.layers):
        heads = _removed(compressor, f"model.layers.{i}.self_attn.q_proj")  # k/v heads
        assert len(heads) == 1  # half of the two k/v heads, each with its two query heads
        query_heads = [h * 2 + r for h in heads for r in range(2)]
        _zero(layer.self_attn.o_proj.weight, 1, _cols(query_heads, 4))
        _zero(
            layer.mlp.down_proj.weight, 1, _removed(compressor, f"model.layers.{i}.mlp.gate_proj")
        )
    pruned = compressor.model
    torch.testing.assert_close(_logits(pruned, inputs), _logits(oracle, inputs))
    assert pruned.model.layers[0].self_attn.k_proj.out_features == 4

    compressor.pretrained().save_pretrained(tmp_path / "hf")
    config = transformers.AutoConfig.from_pretrained(tmp_path / "hf")
    assert (config.num_attention_heads, config.num_key_value_heads, config.head_dim) == (2, 1, 4)
    assert config.intermediate_size == 12
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    assert torch.equal(_logits(reloaded, inputs), _logits(pruned, inputs))
    compressor.save(tmp_path / "ours")
    ours = load_compressed(_tiny_llama(), inputs, tmp_path / "ours")
    assert torch.equal(_logits(ours, inputs), _logits(pruned, inputs))
    prompt = inputs["input_ids"][:1, :3]
    generated = reloaded.generate(prompt, max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert generated.shape == (1, 7)
    assert torch.equal(
        generated, ours.generate(prompt, max_new_tokens=4, do_sample=False, pad_token_id=0)
    )


def test_gpt2_heads_and_mlp_neurons_match_the_hand_zeroed_model(tmp_path):
    model = _tiny_gpt2()
    inputs = {"input_ids": torch.randint(0, 40, (2, 6))}
    compressor = _compress(model, inputs)
    oracle = copy.deepcopy(model)
    for i, block in enumerate(oracle.transformer.h):
        heads = _removed(compressor, f"transformer.h.{i}.attn.c_attn")
        assert len(heads) == 2
        _zero(block.attn.c_proj.weight, 0, _cols(heads, 4))  # Conv1D weights are (in, out)
        _zero(block.mlp.c_proj.weight, 0, _removed(compressor, f"transformer.h.{i}.mlp.c_fc"))
    pruned = compressor.model
    torch.testing.assert_close(_logits(pruned, inputs), _logits(oracle, inputs))

    compressor.pretrained().save_pretrained(tmp_path / "hf")
    config = transformers.AutoConfig.from_pretrained(tmp_path / "hf")
    assert config.n_inner == 12 and sorted(config.pruned_heads) == [0, 1]
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    assert torch.equal(_logits(reloaded, inputs), _logits(pruned, inputs))
    compressor.save(tmp_path / "ours")
    ours = load_compressed(_tiny_gpt2(), inputs, tmp_path / "ours")
    assert torch.equal(_logits(ours, inputs), _logits(pruned, inputs))
    prompt = inputs["input_ids"][:1, :2]
    generated = reloaded.generate(prompt, max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert torch.equal(
        generated, ours.generate(prompt, max_new_tokens=4, do_sample=False, pad_token_id=0)
    )


def test_bert_heads_are_recorded_as_pruned_heads_and_reload(tmp_path):
    config = transformers.BertConfig(
        vocab_size=40,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=24,
        max_position_embeddings=32,
    )
    torch.manual_seed(2)
    model = transformers.BertModel(config).eval()
    inputs = {
        "input_ids": torch.randint(0, 40, (2, 5)),
        "attention_mask": torch.ones(2, 5, dtype=torch.long),
    }
    compressor = _compress(model, inputs)
    oracle = copy.deepcopy(model)
    for i, layer in enumerate(oracle.encoder.layer):
        heads = _removed(compressor, f"encoder.layer.{i}.attention.self.query")
        _zero(layer.attention.output.dense.weight, 1, _cols(heads, 4))
        _zero(
            layer.output.dense.weight,
            1,
            _removed(compressor, f"encoder.layer.{i}.intermediate.dense"),
        )
    with torch.no_grad():
        got = compressor.model(**inputs).last_hidden_state
        torch.testing.assert_close(got, oracle(**inputs).last_hidden_state)
    compressor.pretrained().save_pretrained(tmp_path / "hf")
    reloaded = transformers.BertModel.from_pretrained(tmp_path / "hf").eval()
    with torch.no_grad():
        assert torch.equal(reloaded(**inputs).last_hidden_state, got)


def test_vit_from_hugging_face_prunes_and_reloads(tmp_path):
    config = transformers.ViTConfig(
        image_size=16,
        patch_size=8,
        num_channels=3,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=24,
        num_labels=3,
    )
    torch.manual_seed(3)
    model = transformers.ViTForImageClassification(config).eval()
    inputs = {"pixel_values": torch.randn(2, 3, 16, 16)}
    compressor = _compress(model, inputs)
    assert compressor.model.vit.encoder.layer[0].attention.attention.num_attention_heads == 2
    compressor.pretrained().save_pretrained(tmp_path / "hf")
    reloaded = transformers.ViTForImageClassification.from_pretrained(tmp_path / "hf")
    assert torch.equal(_logits(reloaded, inputs), _logits(compressor.model, inputs))
