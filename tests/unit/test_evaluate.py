"""The alignment-tax perplexity: exp of the mean next-token NLL, batched under left padding, equal
to unbatched forwards computed in float64."""

from __future__ import annotations

import math

import pytest
import torch

from pipelines.evaluate import perplexity

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
