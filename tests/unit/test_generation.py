"""The batched sampler: batching and left padding change nothing, log-probs are the model's own,
seeds reproduce, and rows stop on EOS or their own max_new_tokens."""

from __future__ import annotations

import contextlib

import pytest
import torch

from rlhf.models import load_policy, load_tokenizer
from rlhf.models import generation
from rlhf.models.generation import (LENGTH, STOP, GenerationItem, SamplingParams, control_token_ids, generate_batch,
                                    linear_weights_cast_once)

EOS = 2  # SmolLM2's <|im_end|>, also its pad token
PROMPTS = [[5, 6, 7], [100, 200, 300, 400, 500, 600, 700], [42], [9000, 12, 31000, 77]]


@pytest.fixture(scope="module")
def model(tiny_models):
    return load_policy(tiny_models["policy"])


def generate(model, items, eos=EOS, never_sampled=()):
    return generate_batch(model, items, eos_token_id=eos, pad_token_id=EOS, never_sampled=never_sampled)


def full_forward_logprobs(model, prompt, completion) -> torch.Tensor:
    """log pi(completion token | prefix) from one forward pass over prompt + completion, unpadded."""
    with torch.no_grad():
        logits = model(torch.tensor([list(prompt) + list(completion)])).logits[0].float()
    steps = logits[len(prompt) - 1:-1].log_softmax(-1)
    return steps.gather(1, torch.tensor(completion)[:, None]).squeeze(1)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_batched_with_left_padding_equals_one_at_a_time(model, temperature):
    items = [GenerationItem(prompt, SamplingParams(max_new_tokens=new, temperature=temperature), seed=(7, i, 0))
             for i, (prompt, new) in enumerate(zip(PROMPTS, [8, 3, 6, 1]))]
    batched = generate(model, items)
    for item, together in zip(items, batched):
        (alone,) = generate(model, [item])
        assert together.token_ids == alone.token_ids
        assert len(together.token_ids) == item.params.max_new_tokens
        assert together.finish_reason == LENGTH
        diff = max(abs(a - b) for a, b in zip(together.logprobs, alone.logprobs))
        assert diff < 1e-4, f"max abs log-prob diff {diff}"


def test_a_repeated_prompt_is_prefilled_once_and_sampled_as_if_alone(model):
    """The label stage asks for K completions of one prompt: its rows share one prefill, yet each
    samples with its own seed exactly what it would alone."""
    prompts = [PROMPTS[1], PROMPTS[0], PROMPTS[1], PROMPTS[1], PROMPTS[0]]
    items = [GenerationItem(prompt, SamplingParams(max_new_tokens=6), seed=(3, 0, i))
             for i, prompt in enumerate(prompts)]
    calls = []
    hook = model.register_forward_pre_hook(lambda module, args, kwargs: calls.append(kwargs["input_ids"].shape),
                                           with_kwargs=True)
    try:
        batched = generate(model, items)
    finally:
        hook.remove()
    assert calls[0] == (2, len(PROMPTS[1])), "the prefill runs over the distinct prompts only"
    for item, together in zip(items, batched):
        (alone,) = generate(model, [item])
        assert together.token_ids == alone.token_ids
        diff = max(abs(a - b) for a, b in zip(together.logprobs, alone.logprobs))
        assert diff < 1e-4, f"max abs log-prob diff {diff}"
    assert len({tuple(batched[i].token_ids) for i in (0, 2, 3)}) > 1, "seeds still tell samples apart"


def test_logprobs_are_the_models_own_distribution_whatever_the_sampling(model):
    params = [SamplingParams(8, temperature=0.0), SamplingParams(8, temperature=0.7, top_k=50, top_p=0.9),
              SamplingParams(8, temperature=1.5), SamplingParams(8, temperature=1.0, top_p=0.5)]
    items = [GenerationItem(prompt, p, seed=(1, i, 0)) for i, (prompt, p) in enumerate(zip(PROMPTS, params))]
    for item, completion in zip(items, generate(model, items)):
        expected = full_forward_logprobs(model, item.prompt_ids, completion.token_ids)
        diff = (expected - torch.tensor(completion.logprobs)).abs().max().item()
        assert diff < 1e-4, f"max abs log-prob diff {diff} for {item.params}"


def test_top_k_samples_only_among_the_k_most_likely_tokens(model):
    prompt = PROMPTS[0]
    (completion,) = generate(model, [GenerationItem(prompt, SamplingParams(8, top_k=3), seed=(5, 0, 0))])
    with torch.no_grad():
        logits = model(torch.tensor([prompt + completion.token_ids])).logits[0, len(prompt) - 1:-1]
    top3 = logits.topk(3, dim=-1).indices
    assert all(token in top3[step].tolist() for step, token in enumerate(completion.token_ids))


def test_top_k_one_and_a_tiny_nucleus_are_greedy(model):
    greedy = [c.token_ids for c in generate(model, [GenerationItem(p, SamplingParams(6, temperature=0)) for p in PROMPTS])]
    for params in (SamplingParams(6, temperature=1.0, top_k=1), SamplingParams(6, temperature=2.0, top_p=1e-6)):
        items = [GenerationItem(p, params, seed=(3, i, 0)) for i, p in enumerate(PROMPTS)]
        assert [c.token_ids for c in generate(model, items)] == greedy


def test_seeds_reproduce_and_distinguish_samples(model):
    def sample(seed):
        return generate(model, [GenerationItem(PROMPTS[1], SamplingParams(8), seed=seed)])[0].token_ids

    assert sample((11, 0, 0)) == sample((11, 0, 0))
    assert sample((11, 0, 0)) != sample((11, 0, 1))
    assert sample((11, 0, 0)) != sample((12, 0, 0))
    assert sample(None) != sample(None)


def test_rows_stop_at_eos_included_or_at_their_own_length(model):
    seeded = GenerationItem(PROMPTS[0], SamplingParams(12), seed=(4, 0, 0))
    (free,) = generate(model, [seeded])
    # Make the 5th sampled token the end-of-sequence token: the same draws now stop there.
    stop_at = next(k for k in range(4, 12) if free.token_ids[k] not in free.token_ids[:k])
    eos = free.token_ids[stop_at]
    short = GenerationItem(PROMPTS[1], SamplingParams(3), seed=(4, 1, 0))
    stopped, capped = generate(model, [seeded, short], eos=eos)
    assert stopped.token_ids == free.token_ids[:stop_at + 1]
    assert stopped.finish_reason == STOP
    assert len(stopped.logprobs) == stop_at + 1
    assert eos not in capped.token_ids
    assert (len(capped.token_ids), capped.finish_reason) == (3, LENGTH)


@pytest.mark.parametrize("temperature", [0.0, 0.02])
def test_an_answer_never_ends_before_its_first_token(model, temperature):
    """EOS is no candidate for the first token (vLLM's min_tokens=1): made the most likely first
    token, greedy or sampled so sharply that it would be drawn almost surely, the answer starts
    with another token instead of coming back empty."""
    with torch.no_grad():
        first = model(torch.tensor([PROMPTS[1]])).logits[0, -1].float()
    eos, runner_up = first.topk(2).indices.tolist()
    item = GenerationItem(PROMPTS[1], SamplingParams(max_new_tokens=4, temperature=temperature), seed=(5, 0, 0))
    (answer,) = generate(model, [item], eos=eos)
    assert answer.token_ids and answer.token_ids[0] != eos
    if temperature == 0:
        assert answer.token_ids[0] == runner_up
    # The reported log-prob is the model's own, EOS included in its softmax.
    assert abs(answer.logprobs[0] - first.log_softmax(-1)[answer.token_ids[0]].item()) < 1e-4


def test_control_tokens_are_the_special_tokens_but_eos(tokenizer_dir):
    tokenizer = load_tokenizer(tokenizer_dir)
    assert tokenizer.convert_ids_to_tokens(control_token_ids(tokenizer)) == [
        "<|endoftext|>", "<|im_start|>", "<repo_name>", "<reponame>", "<file_sep>", "<filename>", "<gh_stars>",
        "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>", "<jupyter_text>",
        "<jupyter_code>", "<jupyter_output>", "<jupyter_script>", "<empty_output>"]


@pytest.mark.parametrize("temperature", [0.0, 0.02])
def test_tokens_never_sampled_are_skipped_at_every_step(model, temperature):
    """The tiny model's greedy answer repeats one token; banned, it appears nowhere in the answer
    (it would win every step), the first token is the runner-up, and log-probs stay the model's own."""
    item = GenerationItem(PROMPTS[0], SamplingParams(max_new_tokens=10, temperature=temperature), seed=(6, 0, 0))
    (free,) = generate(model, [item])
    banned = free.token_ids[0]
    assert free.token_ids.count(banned) > 1
    (answer,) = generate(model, [item], never_sampled=[banned])
    assert len(answer.token_ids) == 10 and banned not in answer.token_ids
    with torch.no_grad():
        first = model(torch.tensor([PROMPTS[0]])).logits[0, -1].float()
    if temperature == 0:
        assert answer.token_ids[0] == first.topk(2).indices[1].item()
    expected = full_forward_logprobs(model, PROMPTS[0], answer.token_ids)
    assert torch.allclose(torch.tensor(answer.logprobs), expected, atol=1e-4)


@pytest.mark.parametrize("prompt, new, message", [
    ([], 4, "empty prompt"),
    ([5], 0, "max_new_tokens"),
    ([5] * 1000, 25, "max_sequence_length 1024"),
])
def test_rejects_items_the_model_cannot_hold(model, prompt, new, message):
    with pytest.raises(ValueError, match=message):
        generate(model, [GenerationItem([1, 2], SamplingParams(2)), GenerationItem(prompt, SamplingParams(new))])


def test_weights_cast_once_compute_what_autocast_computes_and_are_given_back(model):
    """Under autocast the Linear layers see bf16 copies inside the block, the logits are the same bit
    for bit, and afterwards the model holds its own fp32 parameters, the tied lm_head included."""
    ids = torch.tensor([PROMPTS[1]])
    before = dict(model.named_parameters())
    assert model.lm_head.weight is model.model.embed_tokens.weight
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        every_call = model(ids).logits
        with linear_weights_cast_once(model):
            assert model.lm_head.weight.dtype == torch.bfloat16
            assert model.model.embed_tokens.weight.dtype == torch.float32, "the embedding lookup stays fp32"
            once = model(ids).logits
    assert torch.equal(once, every_call)
    assert all(parameter is before[name] for name, parameter in model.named_parameters())
    assert model.lm_head.weight is model.model.embed_tokens.weight
    with linear_weights_cast_once(model):  # outside autocast: nothing to cast
        assert model.lm_head.weight.dtype == torch.float32


def test_sampling_under_autocast_is_unchanged_by_casting_once(model, monkeypatch):
    items = [GenerationItem(prompt, SamplingParams(max_new_tokens=8, temperature=1.0), seed=(5, i, 0))
             for i, prompt in enumerate(PROMPTS)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        once = generate(model, items)
        monkeypatch.setattr(generation, "linear_weights_cast_once", lambda model: contextlib.nullcontext())
        every_call = generate(model, items)
    assert [c.token_ids for c in once] == [c.token_ids for c in every_call]
    assert [c.logprobs for c in once] == [c.logprobs for c in every_call]
