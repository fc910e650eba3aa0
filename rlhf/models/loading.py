"""Loading policies, reward/value models and tokenizers from a local directory, and the
fingerprints services report in GetInfo."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer,
                          PreTrainedModel, PreTrainedTokenizerBase)

from rlhf.atomic import write_dir


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The transformer blocks, input side first: the modules Hugging Face never splits across devices
    (`_no_split_modules`, e.g. LlamaDecoderLayer)."""
    names = set(getattr(model, "_no_split_modules", None) or [])
    return [m for m in model.modules() if type(m).__name__ in names]


def freeze_lower_layers(model: PreTrainedModel, fraction: float) -> int:
    """Freezes the token embeddings and the lowest `fraction` of the decoder layers (rounded down),
    so only the layers above and the heads train; returns how many layers it froze. The backward pass
    then stops at the first trainable layer: the frozen ones cost a forward only."""
    layers = decoder_layers(model)
    if fraction and not layers:
        raise ValueError(f"{type(model).__name__} names no decoder layers (`_no_split_modules`) to freeze; "
                         "set the stage's frozen_fraction to 0 to train the whole model")
    frozen = int(fraction * len(layers))
    if frozen:
        model.get_input_embeddings().requires_grad_(False)
        for layer in layers[:frozen]:
            layer.requires_grad_(False)
    return frozen


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """Loads a tokenizer for batched generation: left padding, a pad token always set."""
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_policy(path: str | Path, dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
    return model.eval()


def load_reward_model(path: str | Path, dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    """A sequence-classification model with one output: the reward (and, per token, the value)."""
    model = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=1, dtype=dtype)
    return model.eval()


def token_scores(model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The scalar head applied at every position: (B, L). The reward of a sequence is its value at
    the last attended token (`last_token_scores`); PPO uses every position as the value estimate."""
    positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask,
                              position_ids=positions).last_hidden_state
    # The RM stage sets reward_offset so SFT demonstrations score mean 0 (InstructGPT does this).
    return model.score(hidden).squeeze(-1) - getattr(model.config, "reward_offset", 0.0)


def last_token_scores(model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Reward per sequence (B,), read at the last attended position; works for left or right padding."""
    scores = token_scores(model, input_ids, attention_mask)
    length = attention_mask.shape[1]
    last = length - 1 - attention_mask.long().flip(-1).argmax(-1)
    return scores.gather(1, last[:, None]).squeeze(1)


def format_prompt(tokenizer: PreTrainedTokenizerBase, prompt: str | list[dict]) -> str:
    """The text a policy is prompted with: an instruction (one user turn) or a conversation (a list
    of {"role", "content"} turns, as in chat-form demonstrations) rendered by the tokenizer's chat
    template with a generation prompt; without a template, the turns' texts and a newline."""
    turns = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    return "\n".join(turn["content"] for turn in turns) + "\n"


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """sha256 of the vocabulary and special tokens: equal fingerprints tokenize identically."""
    payload = json.dumps({"vocab": sorted(tokenizer.get_vocab().items()),
                          "special": tokenizer.special_tokens_map}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def weights_revision(model: torch.nn.Module) -> str:
    """sha256 (16 hex chars) over the parameters' bytes, in state-dict order. The bytes are hashed
    through a view of the tensor's memory: no copy on CPU (on a GPU, one copy to the host)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        flat = tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)  # 1-D: a 0-d tensor has bytes too
        digest.update(memoryview(flat.numpy()))
    return digest.hexdigest()[:16]


def save_model(out: str | Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    """Writes model (safetensors) and tokenizer to `out` atomically."""
    def save(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    write_dir(out, save)
