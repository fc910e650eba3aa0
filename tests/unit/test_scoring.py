"""rlhf.models.scoring: batched reward and completion log-prob forwards give each sequence the
result it gets alone, and log-probs match a float64 recomputation from the model's logits."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from rlhf.models import format_prompt
from rlhf.models.scoring import (completion_logprobs, padded_completion_logprobs, reward_inputs, score_texts,
                                 tokenize_texts)
from tests.helpers import float64_completion_logprobs

PAIRS = [("Say hi.", "Hi!"),
         ("List three fruits, all lowercase, as bullet points.", "- apple\n- pear\n- plum"),
         ("Write one long sentence about the sea.", "The sea " + "rolls and " * 30 + "rests."),
         ("Answer with nothing.", "")]


@pytest.fixture(scope="module")
def sequences(tokenizer) -> tuple[list[np.ndarray], list[int]]:
    """Prompt + completion ids of very different lengths (so the batch is heavily padded), plus a
    one-token prompt."""
    prompts = tokenize_texts(tokenizer, [format_prompt(tokenizer, p) for p, _ in PAIRS[:3]])
    full = tokenize_texts(tokenizer, [reward_inputs(tokenizer, p, c) for p, c in PAIRS[:3]])
    rng = np.random.default_rng(0)
    seqs = [np.array(ids) for ids in full] + [rng.integers(0, len(tokenizer), 6)]
    return seqs, [len(ids) for ids in prompts] + [1]


def test_reward_inputs_is_the_policy_prompt_followed_by_the_completion(tokenizer):
    text = reward_inputs(tokenizer, "Say hi.", "Hi!")
    assert text == format_prompt(tokenizer, "Say hi.") + "Hi!"
    assert "<|im_start|>assistant" in text


def test_completion_logprobs_batched_equal_one_by_one_and_float64(policy, sequences):
    seqs, prompt_lengths = sequences
    batched = completion_logprobs(policy, seqs, prompt_lengths)
    reference = copy.deepcopy(policy).double()
    for ids, prompt_length, got in zip(seqs, prompt_lengths, batched):
        assert got.dtype == np.float32
        assert got.shape == (len(ids) - prompt_length,)
        np.testing.assert_allclose(got, completion_logprobs(policy, [ids], [prompt_length])[0], atol=1e-5)
        np.testing.assert_allclose(got, float64_completion_logprobs(reference, ids, prompt_length), atol=1e-4)
        assert (got < 0).all()


def test_padded_completion_logprobs_keep_grad_and_align_right(policy, sequences):
    seqs, prompt_lengths = sequences
    policy.train()
    try:
        logprobs, mask = padded_completion_logprobs(policy, seqs, prompt_lengths)
        (-logprobs[mask].sum()).backward()
    finally:
        policy.eval()
    grad = policy.get_input_embeddings().weight.grad
    assert grad is not None and grad.abs().sum() > 0
    policy.zero_grad(set_to_none=True)
    expected = completion_logprobs(policy, seqs, prompt_lengths)
    assert mask.sum(1).tolist() == [len(e) for e in expected]
    for row, values in enumerate(expected):
        assert mask[row, logprobs.shape[1] - len(values):].all()
        np.testing.assert_allclose(logprobs[row, logprobs.shape[1] - len(values):].detach().numpy(), values, atol=1e-5)
    assert (logprobs[~mask] == 0).all()


def test_logprobs_at_a_temperature_per_sequence_or_for_all(policy, sequences):
    # PPO sampling at T trains softmax(logits / T); its ptx rows, in the same forward, stay at 1.
    seqs, prompt_lengths = sequences
    reference = copy.deepcopy(policy).double()
    with torch.no_grad():
        mixed, mask = padded_completion_logprobs(policy, seqs, prompt_lengths, temperature=[0.5, 1.0, 2.0, 0.7])
        tempered = completion_logprobs(policy, seqs, prompt_lengths, temperature=0.5)
    for row, (ids, prompt_length, temperature) in enumerate(zip(seqs, prompt_lengths, [0.5, 1.0, 2.0, 0.7])):
        want = float64_completion_logprobs(reference, ids, prompt_length, temperature)
        np.testing.assert_allclose(mixed[row][mask[row]].numpy(), want, atol=1e-4)
        if temperature == 0.5:
            np.testing.assert_allclose(tempered[row], want, atol=1e-4)


def test_score_texts_batched_equal_one_by_one(reward_model, tokenizer):
    texts = [reward_inputs(tokenizer, p, c) for p, c in PAIRS]
    batched = score_texts(reward_model, tokenizer, texts, max_length=1024)
    alone = [score_texts(reward_model, tokenizer, [text], max_length=1024)[0] for text in texts]
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    assert len(set(batched)) == len(texts)  # the scores depend on the text


def test_score_texts_refuses_to_truncate(reward_model, tokenizer):
    texts = [reward_inputs(tokenizer, "Say hi.", "Hi!"), reward_inputs(tokenizer, "Say hi.", "hi " * 50)]
    with pytest.raises(ValueError, match=r"texts\[1\]: \d+ tokens, expected 1..40"):
        score_texts(reward_model, tokenizer, texts, max_length=40)
