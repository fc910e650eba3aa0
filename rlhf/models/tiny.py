"""Tiny random Llama models with a real tokenizer, for tests and benchmarks: fast on CPU, same
vocabulary and special tokens as the real policy."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

from rlhf.models.loading import load_tokenizer


def tiny_config(vocab_size: int, pad_token_id: int, **overrides) -> LlamaConfig:
    kwargs = dict(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                  tie_word_embeddings=True, pad_token_id=pad_token_id)
    kwargs.update(overrides)
    return LlamaConfig(**kwargs)


def make_tiny_models(out_dir: str | Path, tokenizer_dir: str | Path, seed: int = 0, **overrides) -> dict[str, Path]:
    """Writes `policy/` (causal LM) and `reward/` (one-output classifier) under out_dir, each with the
    tokenizer, and returns their paths. `overrides` change both configs (vLLM's CPU attention needs
    a head size of 32 or more: `num_attention_heads=2, num_key_value_heads=1`)."""
    out_dir = Path(out_dir)
    tokenizer = load_tokenizer(tokenizer_dir)
    config = tiny_config(len(tokenizer), tokenizer.pad_token_id, **overrides)
    torch.manual_seed(seed)
    paths = {}
    for name, model in (("policy", LlamaForCausalLM(config)),
                        ("reward", LlamaForSequenceClassification(
                            tiny_config(len(tokenizer), tokenizer.pad_token_id, num_labels=1, **overrides)))):
        path = out_dir / name
        model.save_pretrained(path)
        for file in Path(tokenizer_dir).iterdir():
            shutil.copy(file, path / file.name)
        paths[name] = path
    return paths
