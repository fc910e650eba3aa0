"""Supervised fine-tuning: next-token cross entropy on the completion tokens only.

InstructGPT (Ouyang et al. 2022, sec. 3.5) fine-tunes the pretrained model on labeler
demonstrations with the ordinary causal-LM objective. The prompt is context, not a target: only
the tokens the model is asked to write count in the loss. The same masked loss, with every real
token that has a real predecessor as a target, is the pretraining term of PPO-ptx
(`rlhf.algos.ppo.ptx_loss`).

Convention used throughout: `loss_mask[b, t] = 1` means "token t of row b is a target", i.e. the
prediction made by `logits[b, t - 1]` counts. Position 0 is never a target (nothing predicts it).
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


def sft_loss(logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Mean next-token negative log-likelihood over the target tokens.

        loss = - sum_{b, t >= 1} m[b, t] log pi(x[b, t] | x[b, <t]) / sum_{b, t >= 1} m[b, t]

    `loss_mask` (B, L) marks target tokens (completion tokens for SFT; prompt and padding are 0).
    The mean is over counted tokens of the whole batch, not per row, so every demonstration token
    weighs the same (the usual HF/TRL convention). A batch with no target token gives 0.
    """
    nll = -token_logprobs(logits, input_ids)
    mask = loss_mask[:, 1:].to(nll.dtype)
    return (nll * mask).sum() / mask.sum().clamp(min=1)

