"""A vLLM logits processor (engine argument `logits_processors`), loaded by vLLM's engine core: no
control token is ever sampled, the rule the "hf" engine applies in `generate_batch`. It is exact
(-inf), where `logit_bias` stops at -100, and applies to every request. vLLM reads its raw log-probs
before any processor, so the reported log-probs stay the model's own."""

from __future__ import annotations

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor

from rlhf.models import load_tokenizer
from rlhf.models.generation import control_token_ids


class NoControlTokens(LogitsProcessor):
    def __init__(self, vllm_config, device: torch.device, is_pin_memory: bool):
        tokenizer = load_tokenizer(vllm_config.model_config.tokenizer)
        self.banned = torch.tensor(control_token_ids(tokenizer), dtype=torch.long, device=device)

    def is_argmax_invariant(self) -> bool:
        return False  # it changes greedy answers too

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        pass  # the same tokens for every request

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.index_fill_(1, self.banned, float("-inf")) if len(self.banned) else logits
