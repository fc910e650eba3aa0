"""The reward-model trainer scores (prompt, completion) pairs exactly as the reward service does,
and refuses to truncate a pair (its reward is read at the last token)."""

from __future__ import annotations

import pytest
import torch

from pipelines.rm import SequenceScores, score_groups
from rlhf.models.scoring import reward_inputs, score_texts

GROUPS = [("Say hi.", ["Hi!", "Hello there, friend.", ""], [1, 0, 2]),
          ("List two fruits.", ["- apple\n- pear", "fruit"], [0, 1])]


def test_trainer_scores_equal_the_services_scores(reward_model, tokenizer):
    texts = [reward_inputs(tokenizer, prompt, c) for prompt, completions, _ in GROUPS for c in completions]
    served = score_texts(reward_model, tokenizer, texts, max_length=1024)
    trained = score_groups(SequenceScores(reward_model, torch.device("cpu")), tokenizer, GROUPS, max_length=1024, bf16=False)
    assert trained.tolist() == pytest.approx(served, abs=1e-5)


def test_a_pair_longer_than_max_length_is_an_error_not_a_truncation(reward_model, tokenizer):
    with pytest.raises(ValueError, match=r"rm\.max_length: a \(prompt, completion\) pair is \d+ tokens, max 12"):
        score_groups(SequenceScores(reward_model, torch.device("cpu")), tokenizer, GROUPS, max_length=12, bf16=False)
