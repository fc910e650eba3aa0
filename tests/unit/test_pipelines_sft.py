"""pipelines.sft: the trainer's loss, with the LM head only at completion positions of left-padded
rows, is the full-vocabulary NLL of the completion tokens, value and gradient (float64)."""

from __future__ import annotations

import copy

import pytest
import torch

from pipelines.sft import encode_pair
from rlhf.algos.sft import sft_loss
from rlhf.models.scoring import CompletionLogprobs

PAIRS = [("Say hi.", "Hi!"),
         ("List three fruits, all lowercase, as bullet points.", "- apple\n- pear\n- plum"),
         ("Write one long sentence about the sea.", "The sea " + "rolls and " * 12 + "rests.")]


def full_logits_nll(model, examples) -> torch.Tensor:
    """Mean -log p of every completion token (EOS included), one unpadded row at a time, from the
    log-softmax of all the row's logits."""
    total, count = 0.0, 0
    for ids, prompt_length in examples:
        input_ids = torch.tensor(ids)[None]
        logprobs = torch.log_softmax(model(input_ids=input_ids).logits[0], -1)
        for t in range(prompt_length, len(ids)):
            total = total - logprobs[t - 1, ids[t]]
            count += 1
    return total / count


def test_sft_loss_equals_the_full_logits_nll_and_its_gradient(policy, tokenizer):
    examples = [encode_pair(tokenizer, prompt, completion) for prompt, completion in PAIRS]
    assert len({len(ids) for ids, _ in examples}) == 3  # the batch is padded
    model = copy.deepcopy(policy).double().train()
    reference = full_logits_nll(model, examples)
    reference.backward()
    expected = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)

    loss = sft_loss(*CompletionLogprobs(model)([ids for ids, _ in examples], [p for _, p in examples])[:2])
    loss.backward()
    assert loss.item() == pytest.approx(reference.item(), rel=1e-10)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, expected[name], rtol=1e-8, atol=1e-10, msg=name)
