"""Supervised fine-tuning: next-token cross entropy on the completion tokens only.

InstructGPT (Ouyang et al. 2022, sec. 3.5) fine-tunes the pretrained model on labeler
demonstrations with the ordinary causal-LM objective. The prompt is context, not a target: only
the tokens the model is asked to write count in the loss. The same masked loss, with every real
token that has a real predecessor as a target, is the pretraining term of PPO-ptx
(`rlhf.algos.ppo.ptx_loss`).

The trainer takes each completion token's log-prob from
`rlhf.models.scoring.padded_completion_logprobs`, which runs the LM head only where completions are;
`token_logprobs` is its shift: `logits[b, t]` predicts `input_ids[b, t + 1]`.
"""

from __future__ import annotations

import torch


def token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """log pi(x_{t+1} | x_{<=t}) for every position: shape (B, L - 1).

    `logits` (B, L, V) are the model outputs on `input_ids` (B, L); `logits[:, t]` predicts token
    `t + 1`, so entry `[b, t]` of the result is the log-prob of `input_ids[b, t + 1]`. Computed as
    `logit[target] - logsumexp(logits)`, which never materialises a (B, L, V) log-softmax.
    Half-precision logits (bf16 autocast) are upcast to float32 first: a bf16 logsumexp over a
    49k vocabulary loses the small log-prob differences PPO's ratios depend on.
    """
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    logits = logits[:, :-1]
    targets = input_ids[:, 1:].unsqueeze(-1)
    return logits.gather(-1, targets).squeeze(-1) - logits.logsumexp(-1)


def sft_loss(logprobs: torch.Tensor, mask: torch.Tensor, normalizer: float | None = None) -> torch.Tensor:
    """Next-token negative log-likelihood of the completion tokens:

        loss = - sum_{b, j} m[b, j] log pi(token[b, j] | tokens before it) / normalizer

    `logprobs, mask` (B, C) are the completion tokens' log-probs and where they are, as
    `rlhf.models.scoring.padded_completion_logprobs` gives them (prompt and padding are never
    targets). `normalizer` defaults to the number of target tokens, the mean; the trainer passes the
    global batch's count over the number of ranks (whose gradients DDP averages), so every
    demonstration token weighs the same whatever micro-batch or rank it is in (the usual HF/TRL
    convention). A batch with no target token gives 0.
    """
    nll = -(logprobs * mask).sum()
    return nll / (mask.sum().clamp(min=1) if normalizer is None else normalizer)
