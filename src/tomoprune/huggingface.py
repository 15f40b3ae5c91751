"""Hugging Face ``transformers`` models: a pruned model's config rewritten for ``save_pretrained``.

tomoprune removes whole attention heads and MLP neurons of a ``PreTrainedModel`` (the hidden
size stays: the config ties every layer's width and the head size to it). A config holds one
number per kind of width for all layers, so the rewrite needs the same count in every layer,
which per-group pruning with one fraction gives:

- MLP neurons: ``intermediate_size`` (BERT, ViT, LLaMA/Mistral) or ``n_inner`` (GPT-2);
- heads of models that record pruned heads (BERT, ViT, GPT-2): ``pruned_heads``, the original
  indices of the removed heads per layer, which ``from_pretrained`` removes again before it
  loads the weights (Hugging Face's own mechanism), so layers may even differ;
- heads of q/k/v/o models (LLaMA, Mistral, Qwen2): ``num_attention_heads`` and
  ``num_key_value_heads``, with ``head_dim`` written out because it was derived from them.

``transformers`` is an optional extra (``pip install tomoprune[hf]``); this module imports
nothing from it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from torch import nn

from tomoprune.errors import ConfigError
from tomoprune.structure.attention import AttentionBlock
from tomoprune.structure.removal import RemovalRecord

_LAYER_INDEX = re.compile(r"(?:^|\.)(\d+)(?:\.|$)")

# config attribute of the MLP width -> module-name suffixes of the layers computing it
_MLP_WIDTH = {
    "intermediate_size": ("intermediate.dense", "mlp.gate_proj", "mlp.up_proj", "mlp.fc1"),
    "n_inner": ("mlp.c_fc",),
}


def _out_width(module: nn.Module) -> int:
    return module.weight.shape[0] if isinstance(module, nn.Linear) else module.weight.shape[1]


def _uniform(values: Sequence[int], what: str) -> int:
    if len(set(values)) != 1:
        raise ConfigError(
            f"the pruned layers keep different {what} ({sorted(set(values))}), which a Hugging "
            "Face config cannot express; prune with Schedule(selection='per_group') for "
            "save_pretrained, or save with Compressor.save and reload with load_compressed."
        )
    return values[0]


def layer_index(name: str) -> int:
    """The layer number in a module name (``encoder.layer.3.attention.self`` -> 3)."""
    match = _LAYER_INDEX.search(name)
    if match is None:
        raise ConfigError(f"cannot tell which layer attention module '{name}' belongs to.")
    return int(match.group(1))


def rewrite_config(
    model: nn.Module, record: RemovalRecord, blocks: Sequence[AttentionBlock]
) -> nn.Module:
    """Rewrite ``model.config`` (in place) so ``save_pretrained``/``from_pretrained`` rebuild
    the pruned ``model``; ``blocks`` are the attention layers of the *original* model and
    ``record`` the removal made from it. Returns ``model``."""
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "to_dict"):
        raise ConfigError("the model has no Hugging Face config; it is not a PreTrainedModel.")
    modules = dict(model.named_modules())
    for attr, suffixes in _MLP_WIDTH.items():
        if not hasattr(config, attr):
            continue
        widths = [_out_width(m) for n, m in modules.items() if n.endswith(suffixes)]
        if widths:
            setattr(config, attr, _uniform(widths, "MLP widths"))
    if not blocks:
        return model
    removed: dict[int, list[int]] = {}
    kept_kv: list[int] = []
    for block in blocks:
        rep = block.heads // block.kv_heads
        kept = set(record.kept.get(block.q, range(block.kv_heads)))
        kept_kv.append(len(kept))
        gone = [h for h in range(block.heads) if h // rep not in kept]
        if gone:
            removed[layer_index(block.name)] = gone
        _mark_pruned(model, block, gone)
    first = blocks[0]
    if first.family == "qkvo":
        kv = _uniform(kept_kv, "attention head counts")
        config.head_dim = first.head_dim
        config.num_key_value_heads = kv
        config.num_attention_heads = kv * (first.heads // first.kv_heads)
    else:
        config.pruned_heads = {layer: list(heads) for layer, heads in sorted(removed.items())}
    return model


def _mark_pruned(model: nn.Module, block: AttentionBlock, gone: list[int]) -> None:
    """Tell the attention module which heads are gone, as its own ``prune_heads`` would."""
    names = [block.name, block.name.rpartition(".")[0]]
    for name in names:
        module = model.get_submodule(name) if name else model
        if isinstance(getattr(module, "pruned_heads", None), set):
            module.pruned_heads = set(gone)
            return


def is_pretrained(model: Any) -> bool:
    """A Hugging Face ``PreTrainedModel`` (duck-typed: a config and ``save_pretrained``)."""
    return hasattr(model, "config") and hasattr(model, "save_pretrained")
