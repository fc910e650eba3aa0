"""Batched forward passes the reward-scoring and reference-KL services run, and the trainers reuse:
reward of (prompt, completion) texts, and log-probs of completion tokens.

Batches are left-padded with position ids `cumsum(mask) - 1`, so a sequence gets the same result
alone or next to longer ones; no grpc here.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from rlhf.algos.sft import token_logprobs
from rlhf.models.loading import FrozenLower, format_prompt, last_token_scores


def reward_inputs(tokenizer: PreTrainedTokenizerBase, prompt: str | list[dict], completion: str) -> str:
    """The reward model's text for a pair: the prompt as the policy saw it (in the RM tokenizer's
    own chat template) followed by the completion. The RM trainer and the scoring service must
    agree on this byte for byte, so both call it."""
    return format_prompt(tokenizer, prompt) + completion


def tokenize_texts(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text. A chat template already writes the special tokens it wants, so the
    tokenizer adds its own (e.g. a BOS) only when there is no template."""
    if not texts:
        return []
    add_special = not tokenizer.chat_template
    return tokenizer(list(texts), add_special_tokens=add_special)["input_ids"]


def instruction_ids(tokenizer: PreTrainedTokenizerBase, instructions: Sequence[str | list[dict]]) -> list[list[int]]:
    """Token ids a policy is prompted with for each instruction or conversation (format_prompt, then
    tokenize_texts)."""
    return tokenize_texts(tokenizer, [format_prompt(tokenizer, instruction) for instruction in instructions])


def left_pad(sequences: Sequence[Sequence[int]], pad_token_id: int,
             device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (B, L) with L the longest sequence; sequences end at the
    right edge, so the last tokens of every row share columns."""
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        if len(sequence):
            input_ids[row, width - len(sequence):] = torch.from_numpy(np.array(sequence, dtype=np.int64))
            attention_mask[row, width - len(sequence):] = 1
    return input_ids.to(device), attention_mask.to(device)


def _pad_token_id(model: PreTrainedModel) -> int:
    """Any id works (padding is masked out); the config's pad id when there is one."""
    pad = model.config.pad_token_id
    return 0 if pad is None else int(pad)


def sequence_scores(model: PreTrainedModel, sequences: Sequence[Sequence[int]],
                    device: torch.device | None = None) -> torch.Tensor:
    """Reward of each token-id sequence, (B,), one forward pass under the caller's autograd mode:
    the RM trainer differentiates through exactly what the reward service computes. Inputs go to
    `device` (default: the model's; a trainer whose shards live in host memory computes elsewhere)."""
    input_ids, attention_mask = left_pad(sequences, _pad_token_id(model), device or model.device)
    return last_token_scores(model, input_ids, attention_mask)


def score_sequences(model: PreTrainedModel, sequences: Sequence[Sequence[int]]) -> list[float]:
    """Reward of each token-id sequence (one forward pass for the batch)."""
    with torch.inference_mode():
        return sequence_scores(model, sequences).float().tolist()


def score_texts(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
                max_length: int) -> list[float]:
    """Reward of each text (see `reward_inputs`), batched. Texts are never truncated: cutting the
    left would drop the prompt and cutting the right the end the reward is read at, so a text
    outside 1..max_length tokens raises ValueError (services validate first, naming the field)."""
    sequences = tokenize_texts(tokenizer, texts)
    for index, ids in enumerate(sequences):
        if not 0 < len(ids) <= max_length:
            raise ValueError(f"texts[{index}]: {len(ids)} tokens, expected 1..{max_length}")
    return score_sequences(model, sequences)


def padded_completion_logprobs(model: PreTrainedModel, sequences: Sequence[Sequence[int]],
                               prompt_lengths: Sequence[int], device: torch.device | None = None,
                               inputs_embeds: torch.Tensor | None = None,
                               temperature: float | Sequence[float] = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """log pi(token_t | tokens_<t) of every completion token, as (logprobs, mask), both (B, C) with
    C the longest completion; with `temperature` T (one, or one per sequence), of the distribution
    sampling at T draws from, softmax(logits / T).

    Completions are right-aligned: row i's completion fills its last `len(sequences[i]) -
    prompt_lengths[i]` columns and `mask` is True there. With `input_ids, attention_mask =
    left_pad(sequences, ...)` of width L, column j holds the token at position L - C + j, predicted
    from position L - C + j - 1 (where a value head reads the state for PPO).

    Runs under the caller's autograd mode and in the model's current train/eval mode, so the PPO
    trainer can differentiate through it; `completion_logprobs` is the inference form. Inputs go
    to `device` (default: the model's), as in `sequence_scores`. `inputs_embeds` (B, L, D), when
    given, replaces the token embeddings of the left-padded sequences (see `FrozenLower.upper`).
    """
    completion_lengths = [len(s) - p for s, p in zip(sequences, prompt_lengths, strict=True)]
    if any(not 0 < p <= len(s) for s, p in zip(sequences, prompt_lengths)):
        raise ValueError("every prompt length must be in 1..len(sequence)")
    width = max(completion_lengths)
    input_ids, attention_mask = left_pad(sequences, _pad_token_id(model), device or model.device)
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    # Only the last width + 1 positions predict completion tokens: skip the rest of the LM head.
    tokens = dict(input_ids=input_ids) if inputs_embeds is None else dict(inputs_embeds=inputs_embeds)
    logits = model(**tokens, attention_mask=attention_mask, position_ids=positions, logits_to_keep=width + 1).logits
    scale = torch.as_tensor(temperature, dtype=logits.dtype, device=logits.device).reshape(-1, 1, 1)
    if (scale != 1).any():
        logits = logits / scale
    logprobs = token_logprobs(logits, input_ids[:, input_ids.shape[1] - width - 1:])
    columns = torch.arange(width, device=logprobs.device)
    mask = columns[None, :] >= width - torch.as_tensor(completion_lengths, device=logprobs.device)[:, None]
    return logprobs.masked_fill(~mask, 0.0), mask


class CompletionLogprobs(torch.nn.Module):
    """`padded_completion_logprobs` as a module: SFT's loss and PPO's log-probs call the model
    through it, so DDP sees, and syncs, that forward, and FSDP2 makes it the root.

    With `frozen` (the model's frozen lower layers), it runs the layers above them from their output,
    which it returns too (`FrozenLower.hidden`): PPO passes that back as `lower` in every forward over
    the same rollouts, so the frozen layers run once per step."""

    def __init__(self, model: PreTrainedModel, device: torch.device | None = None, frozen: FrozenLower | None = None,
                 temperature: float = 1.0):
        super().__init__()
        self.model = model
        self.device = device
        self.frozen = frozen
        self.temperature = temperature

    def forward(self, sequences: Sequence[Sequence[int]], prompt_lengths: Sequence[int],
                lower: torch.Tensor | None = None, temperatures: Sequence[float] | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(logprobs, mask) as `padded_completion_logprobs` at this module's temperature (or each
        sequence's `temperatures`), and the frozen layers' output (B, L, D) for the left-padded
        sequences (None without `frozen`)."""
        temperature = self.temperature if temperatures is None else temperatures
        if self.frozen is None:
            return *padded_completion_logprobs(self.model, sequences, prompt_lengths, self.device,
                                               temperature=temperature), None
        hidden = self.frozen.hidden(*left_pad(sequences, _pad_token_id(self.model), self.device or self.model.device),
                                    lower)
        with self.frozen.upper():
            logprobs, mask = padded_completion_logprobs(self.model, sequences, prompt_lengths, self.device, hidden,
                                                        temperature)
        return logprobs, mask, hidden


def completion_logprobs(model: PreTrainedModel, sequences: Sequence[Sequence[int]],
                        prompt_lengths: Sequence[int], temperature: float = 1.0) -> list[np.ndarray]:
    """log pi(token_t | tokens_<t) of each sequence's completion tokens (one float32 array of
    `len(sequence) - prompt_length` values per sequence; at `temperature`, as in
    `padded_completion_logprobs`), in one batched forward pass."""
    with torch.inference_mode():
        logprobs, _ = padded_completion_logprobs(model, sequences, prompt_lengths, temperature=temperature)
    rows = logprobs.cpu().numpy()
    width = rows.shape[1]
    return [rows[i, width - (len(s) - p):].copy() for i, (s, p) in enumerate(zip(sequences, prompt_lengths))]
