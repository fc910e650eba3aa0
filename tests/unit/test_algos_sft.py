"""SFT loss and token log-probs against float64 loops written here."""

from __future__ import annotations

import math

import pytest
import torch

from rlhf.algos.ppo import ptx_loss
from rlhf.algos.sft import sft_loss, token_logprobs


def reference_logprob(logits_row: list[float], token: int) -> float:
    """log softmax(logits_row)[token] with the max-subtraction trick, in python floats."""
    top = max(logits_row)
    return logits_row[token] - top - math.log(sum(math.exp(v - top) for v in logits_row))


def reference_masked_nll(logits: torch.Tensor, input_ids: torch.Tensor, targets: list[list[int]]) -> float:
    """Mean of -log p(x[b, t] | x[b, <t]) over (b, t) with targets[b][t] == 1."""
    total, count = 0.0, 0
    for b in range(input_ids.shape[0]):
        for t in range(1, input_ids.shape[1]):
            if targets[b][t]:
                total -= reference_logprob(logits[b, t - 1].tolist(), int(input_ids[b, t]))
                count += 1
    return total / count


def sft_batch():
    """3 rows, right-padded: (prompt length, completion length) = (2, 4), (3, 2), (1, 6); pad id 0."""
    torch.manual_seed(0)
    lengths = [(2, 4), (3, 2), (1, 6)]
    B, L, V = 3, 7, 11
    logits = torch.randn(B, L, V, dtype=torch.float64) * 3
    input_ids = torch.randint(1, V, (B, L))
    loss_mask = torch.zeros(B, L, dtype=torch.long)
    for b, (p, c) in enumerate(lengths):
        input_ids[b, p + c:] = 0
        loss_mask[b, p:p + c] = 1
    return logits, input_ids, loss_mask


def test_token_logprobs_shift_matches_loop():
    logits, input_ids, _ = sft_batch()
    got = token_logprobs(logits, input_ids)
    assert got.shape == (3, 6)
    for b in range(3):
        for t in range(6):
            expected = reference_logprob(logits[b, t].tolist(), int(input_ids[b, t + 1]))
            assert got[b, t].item() == pytest.approx(expected, abs=1e-12)


def test_token_logprobs_upcasts_bfloat16():
    logits, input_ids, _ = sft_batch()
    got = token_logprobs(logits.to(torch.bfloat16), input_ids)
    assert got.dtype == torch.float32
    expected = token_logprobs(logits.to(torch.bfloat16).double(), input_ids)
    torch.testing.assert_close(got.double(), expected, atol=1e-5, rtol=0)


def completion_columns(logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor):
    """sft_batch's targets as padded_completion_logprobs lays them out: (logprobs, mask), (B, C),
    each row's completion right-aligned."""
    logprobs = token_logprobs(logits, input_ids)
    counts = loss_mask.sum(1)
    width = int(counts.max())
    out = torch.zeros(len(counts), width, dtype=logprobs.dtype)
    mask = torch.zeros(len(counts), width, dtype=torch.bool)
    for b, count in enumerate(counts.tolist()):
        targets = logprobs[b][loss_mask[b, 1:].bool()]
        out[b, width - count:] = targets
        mask[b, width - count:] = True
    return out, mask


def test_sft_loss_is_the_mean_nll_of_completion_tokens():
    logits, input_ids, loss_mask = sft_batch()
    logits.requires_grad_(True)
    logprobs, mask = completion_columns(logits, input_ids, loss_mask)
    loss = sft_loss(logprobs, mask)
    expected = reference_masked_nll(logits.detach(), input_ids, loss_mask.tolist())
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    # Only logits at t - 1 for a target token t receive gradient: prompt and padding predictions don't.
    loss.backward()
    predicts_target = loss_mask[:, 1:].bool()
    assert logits.grad[:, :-1][~predicts_target].abs().max() == 0
    assert logits.grad[:, -1].abs().max() == 0
    assert (logits.grad[:, :-1][predicts_target].abs().sum(-1) > 0).all()


def test_sft_loss_divides_the_sum_by_the_given_normalizer():
    # The trainer divides by the global batch's target count: 12 tokens here, as if a second
    # micro-batch held 0 more; the sum is the mean times the 12 targets.
    logits, input_ids, loss_mask = sft_batch()
    logprobs, mask = completion_columns(logits, input_ids, loss_mask)
    mean = reference_masked_nll(logits, input_ids, loss_mask.tolist())
    assert sft_loss(logprobs, mask, 24.0).item() == pytest.approx(mean * 12 / 24, abs=1e-12)
    assert sft_loss(logprobs[:0], mask[:0]).item() == 0


def test_sft_loss_float32_close_to_float64_reference():
    logits, input_ids, loss_mask = sft_batch()
    loss = sft_loss(*completion_columns(logits.float(), input_ids, loss_mask))
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(reference_masked_nll(logits, input_ids, loss_mask.tolist()), rel=1e-6)


def test_ptx_loss_targets_real_tokens_with_a_real_predecessor():
    torch.manual_seed(1)
    B, L, V = 3, 6, 9
    logits = torch.randn(B, L, V, dtype=torch.float64)
    input_ids = torch.randint(1, V, (B, L))
    # Row 0 full, row 1 left-padded by 2, row 2 right-padded by 3.
    attention_mask = torch.tensor([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    input_ids[attention_mask == 0] = 0
    targets = [[0, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1], [0, 1, 1, 0, 0, 0]]
    # What padded_completion_logprobs hands ptx_loss for a 1-token "prompt": log p of every token
    # after a row's first real one, masked to exactly those.
    logprobs = torch.log_softmax(logits[:, :-1], -1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    mask = (attention_mask[:, 1:] * attention_mask[:, :-1]).bool()
    assert ptx_loss(logprobs, mask).item() == pytest.approx(
        reference_masked_nll(logits, input_ids, targets), abs=1e-12)

