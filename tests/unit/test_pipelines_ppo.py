"""The trainer's batched log-probs and values line up with one-sequence-at-a-time forwards, whatever
the mix of prompt and completion lengths (the layout bugs that would silently corrupt PPO)."""

import torch

from pipelines.ppo import CompletionValues, Rollouts, right_align
from rlhf.models import load_policy, load_reward_model, token_scores
from rlhf.models.scoring import CompletionLogprobs

PROMPTS = [[5, 6, 7], [8], [9, 10, 11, 12, 13, 14]]
COMPLETIONS = [[20, 21], [22, 23, 24, 25, 26], [27]]


def test_right_align_pads_on_the_left_and_keeps_the_last_columns():
    assert right_align([[1.0], [2.0, 3.0]], 3).tolist() == [[0, 0, 1], [0, 2, 3]]
    assert right_align(torch.tensor([[1.0, 2.0, 3.0]]), 2).tolist() == [[2, 3]]
    assert Rollouts.build(PROMPTS, COMPLETIONS).mask().tolist() == [[0, 0, 0, 1, 1], [1] * 5, [0, 0, 0, 0, 1]]


def test_logprobs_and_values_match_unbatched_forwards(tiny_models):
    policy, value_model = load_policy(tiny_models["policy"]), load_reward_model(tiny_models["reward"])
    rollouts = Rollouts.build(PROMPTS, COMPLETIONS)
    with torch.no_grad():
        logprobs = CompletionLogprobs(policy, torch.device("cpu"))(rollouts.sequences, rollouts.prompt_lengths)[0]
        values = CompletionValues(value_model, pad_token_id=0, device=torch.device("cpu"))(rollouts)
        for row, (prompt, completion) in enumerate(zip(PROMPTS, COMPLETIONS)):
            ids = torch.tensor([prompt + completion])
            alone = torch.log_softmax(policy(input_ids=ids).logits[0].double(), -1)
            predicted = range(len(prompt) - 1, len(prompt) + len(completion) - 1)  # positions predicting
            expected = torch.tensor([alone[t, ids[0, t + 1]].item() for t in predicted], dtype=torch.float64)
            got = logprobs[row, -len(completion):].double()
            assert torch.allclose(got, expected, atol=1e-4), (row, got, expected)
            assert (logprobs[row, :-len(completion)] == 0).all()
            scores = token_scores(value_model, ids, torch.ones_like(ids))[0]
            assert torch.allclose(values[row, -len(completion):], scores[list(predicted)], atol=1e-5), row
