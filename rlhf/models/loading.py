"""Loading policies, reward/value models and tokenizers from a local directory, and the
fingerprints services report in GetInfo."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Iterator

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


class FrozenLower:
    """A decoder run in two parts: the token embeddings with its lowest `frozen` layers, and the
    layers above them from the lower part's output. While those stay frozen, a trainer computes the
    lower part once per batch (`hidden`) and reuses it in every forward over the batch (`upper`).

    `supported` is False when there is nothing frozen, or the model does not keep its decoder
    layers as `base_model.layers` with a final `base_model.norm` (as Llama, Mistral and Qwen do); the
    caller then runs the whole model. Build it before DDP / FSDP2 wrap the model."""

    def __init__(self, model: PreTrainedModel, frozen: int):
        self.model, self.frozen = model, frozen
        base = model.base_model
        layers = getattr(base, "layers", None)
        self.supported = (0 < frozen < len(decoder_layers(model)) and isinstance(layers, torch.nn.ModuleList)
                          and list(layers) == decoder_layers(model) and hasattr(base, "norm"))

    def computes_as(self, other: "FrozenLower") -> bool:
        """Whether `other`'s frozen part computes exactly what this one does: the same token
        embeddings and frozen layers, weight for weight (a LoRA adapter there must be zero, as it
        stays while frozen), and the same output on a probe (norms, rotary settings). So it is for a
        PPO value model from a reward model that froze the same layers of the same SFT model."""
        if not (self.supported and other.supported and self.frozen == other.frozen):
            return False
        mine, theirs = self._weights(), other._weights()
        if mine is None or theirs is None or mine.keys() != theirs.keys():
            return False
        if not all(torch.equal(mine[name], theirs[name]) for name in mine):
            return False
        probe = torch.arange(1, 9, device=self.model.device)[None]
        ones = torch.ones_like(probe)
        return torch.equal(self.hidden(probe, ones), other.hidden(probe.to(other.model.device), ones))

    def _weights(self) -> dict[str, torch.Tensor] | None:
        """The frozen part's weights by name, LoRA adapters left out; None if an adapter is not zero."""
        modules = [self.model.get_input_embeddings(), *list(self.model.base_model.layers)[:self.frozen]]
        named = [(f"{i}.{name}", p) for i, module in enumerate(modules) for name, p in module.named_parameters()]
        if any(p.any() for name, p in named if "lora_B" in name):
            return None
        return {name: p for name, p in named if "lora_" not in name}

    @contextlib.contextmanager
    def _only(self, layers: slice, final_norm: bool) -> Iterator[None]:
        """The base model's forward runs only `layers` (and no final norm unless `final_norm`)."""
        base = self.model.base_model
        all_layers, norm = base.layers, base.norm
        base.layers = torch.nn.ModuleList(list(all_layers)[layers])
        if not final_norm:
            base.norm = torch.nn.Identity()
        try:
            yield
        finally:
            base.layers, base.norm = all_layers, norm

    def hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               lower: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L, D): the frozen layers' output for the left-padded batch (`input_ids`, `attention_mask`),
        without autograd (nothing below trains). `lower`, when given, holds it for the first rows:
        an earlier call's output over a batch they were part of, left-padded to any width at least
        theirs; only the other rows run."""
        width, known = input_ids.shape[1], 0 if lower is None else len(lower)
        parts = []
        if known:  # Right-aligned rows: the columns cut or added on the left are padding.
            lower = lower[:, -width:]
            parts.append(torch.nn.functional.pad(lower, (0, 0, width - lower.shape[1], 0)))
        if known < len(input_ids):
            ids, mask = input_ids[known:], attention_mask[known:]
            positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
            with torch.no_grad(), self._only(slice(0, self.frozen), final_norm=False):
                parts.append(self.model.base_model(input_ids=ids, attention_mask=mask,
                                                   position_ids=positions).last_hidden_state)
        return torch.cat([part.to(parts[0].dtype) for part in parts])

    def upper(self) -> contextlib.AbstractContextManager:
        """Context in which `model(inputs_embeds=hidden, ...)` runs only the layers above the frozen
        ones (and the heads) on `hidden`'s output."""
        return self._only(slice(self.frozen, None), final_norm=True)


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """Loads a tokenizer for batched generation: left padding, a pad token always set."""
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _in_own_memory(model: PreTrainedModel) -> PreTrainedModel:
    """`model` with every weight copied into this process's memory. Loaded from safetensors in the
    file's dtype, the weights are views of the mapped file: page cache the kernel may drop whenever
    memory is wanted elsewhere, and read back from disk at the next forward pass (a weight that is
    never trained, as a frozen layer, a LoRA base or a served model, stays such a view for good).
    Tied weights stay tied: each parameter is copied once."""
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.data = tensor.data.clone()
    return model


def load_policy(path: str | Path, dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
    return _in_own_memory(model).eval()


def load_reward_model(path: str | Path, dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    """A sequence-classification model with one output: the reward (and, per token, the value)."""
    model = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=1, dtype=dtype)
    return _in_own_memory(model).eval()


def token_scores(model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
    """The scalar head applied at every position: (B, L). The reward of a sequence is its value at
    the last attended token (`last_token_scores`); PPO uses every position as the value estimate.
    `inputs_embeds` (B, L, D), when given, replaces the token embeddings of `input_ids` (see
    `FrozenLower.upper`)."""
    positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    tokens = dict(input_ids=input_ids) if inputs_embeds is None else dict(inputs_embeds=inputs_embeds)
    hidden = model.base_model(**tokens, attention_mask=attention_mask, position_ids=positions).last_hidden_state
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
