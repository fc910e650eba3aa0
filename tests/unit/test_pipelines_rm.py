"""The reward-model trainer scores (prompt, completion) pairs exactly as the reward service does,
and checks lengths before training instead of truncating a pair (its reward is read at the last
token): an over-long record is named by set, line and id, or skipped and counted."""

from __future__ import annotations

import pytest
import torch

from pipelines.rm import SequenceScores, comparison_groups, score_groups
from rlhf.models.scoring import reward_inputs, score_texts

RECORDS = [{"id": "a", "prompt": "Say hi.", "completions": ["Hi!", "Hello there, friend.", ""], "ranking": [1, 0, 2]},
           {"id": "b", "prompt": "List two fruits.", "completions": ["- apple\n- pear", "fruit " * 30],
            "ranking": [0, 1]}]


def test_trainer_scores_equal_the_services_scores(reward_model, tokenizer):
    texts = [reward_inputs(tokenizer, r["prompt"], c) for r in RECORDS for c in r["completions"]]
    served = score_texts(reward_model, tokenizer, texts, max_length=1024)
    groups = comparison_groups(tokenizer, RECORDS, "comparisons/train", max_length=1024, skip=False)
    assert [ranking for _, ranking in groups] == [[1, 0, 2], [0, 1]]
    trained = score_groups(SequenceScores(reward_model, torch.device("cpu")), groups, bf16=False)
    assert trained.tolist() == pytest.approx(served, abs=1e-5)


def test_chat_form_demonstrations_score_like_their_rendered_conversation(reward_model, tokenizer):
    turns = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi."}]
    demo = {"messages": [*turns, {"role": "assistant", "content": "Hi!"}]}
    (group,) = comparison_groups(tokenizer, [demo], "demonstrations", max_length=1024, skip=False)
    expected = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True) + "Hi!"
    scorer = SequenceScores(reward_model, torch.device("cpu"))
    assert score_groups(scorer, [group], bf16=False).tolist() == pytest.approx(
        score_texts(reward_model, tokenizer, [expected], max_length=1024), abs=1e-5)


def longest_pair(tokenizer, record: dict) -> int:
    ((sequences, _),) = comparison_groups(tokenizer, [record], "s", max_length=1024, skip=False)
    return max(map(len, sequences))


def test_a_pair_longer_than_max_length_is_named_before_training(tokenizer):
    assert longest_pair(tokenizer, RECORDS[1]) > longest_pair(tokenizer, RECORDS[0]) + 2
    longest = longest_pair(tokenizer, RECORDS[0])
    with pytest.raises(ValueError, match=r"rm\.max_length: record set 'comparisons/train' line 2 \(id 'b'\) is \d+ "
                                         r"tokens, max \d+ \(1 of 2 records.*rm\.skip_overlength=true"):
        comparison_groups(tokenizer, RECORDS, "comparisons/train", max_length=longest + 2, skip=False)


def test_over_long_records_can_be_skipped(tokenizer, capsys):
    longest = longest_pair(tokenizer, RECORDS[0])
    groups = comparison_groups(tokenizer, RECORDS, "comparisons/train", max_length=longest + 2, skip=True)
    assert [ranking for _, ranking in groups] == [[1, 0, 2]]
    assert "skipped 1 of 2 records of 'comparisons/train'" in capsys.readouterr().out
