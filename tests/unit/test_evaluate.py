"""The alignment-tax perplexity: exp of the mean next-token NLL, batched under left padding, equal
to unbatched forwards computed in float64; the win rate over prompts with several samples each."""

from __future__ import annotations

import math

import pytest
import torch

from pipelines.evaluate import perplexity, wilson_interval, win_summary

TEXTS = ["The sea rolls and rests.", "A", "Three fruits: apple, pear, plum. " * 3, "Hi there"]


def test_perplexity_matches_unbatched_float64_forwards(policy, tokenizer):
    total, count = 0.0, 0
    with torch.no_grad():
        for text in TEXTS:
            ids = tokenizer(text, add_special_tokens=False).input_ids[:16]
            if len(ids) < 2:
                continue  # no token with a predecessor
            logits = policy(input_ids=torch.tensor([ids])).logits[0].double()
            logprobs = torch.log_softmax(logits[:-1], -1).gather(-1, torch.tensor(ids[1:])[:, None])
            total -= logprobs.sum().item()
            count += len(ids) - 1
    expected = math.exp(total / count)
    assert perplexity(policy, tokenizer, TEXTS, max_length=16, batch=3) == pytest.approx(expected, rel=1e-4)


def test_a_prompt_with_several_samples_counts_once_with_its_share_of_wins():
    # 3 prompts x 2 samples: a win and a tie, two losses, two wins -> 0.75, 0, 1 per prompt.
    summary = win_summary([1.0, 0.5, 0.0, 0.0, 1.0, 1.0], samples_per_prompt=2)
    assert summary["win_rate"] == pytest.approx(1.75 / 3) and summary["ties"] == 1
    # The interval is over the 3 prompts, not the 6 pairs: wider than 6 independent verdicts would give.
    assert (summary["win_rate_low"], summary["win_rate_high"]) == pytest.approx(wilson_interval(1.75, 3))
    assert summary["win_rate_low"] < wilson_interval(3.5, 6)[0]


def test_the_wilson_interval_matches_a_hand_computation():
    # 15 of 20, z = 1.96: center (0.75 + 3.8416 / 40) / (1 + 3.8416 / 20) = 0.70972, half-width
    # 1.96 * sqrt(0.75 * 0.25 / 20 + 3.8416 / 1600) / 1.19208 = 0.17842.
    assert wilson_interval(15, 20) == pytest.approx((0.5313, 0.8881), abs=1e-4)
