"""The trainer's batched log-probs and values line up with one-sequence-at-a-time forwards, whatever
the mix of prompt and completion lengths (the layout bugs that would silently corrupt PPO)."""

import torch

from pipelines.ppo import CompletionValues, Rollouts, right_align
from rlhf.models import FrozenLower, decoder_layers, freeze_lower_layers, load_policy, load_reward_model, token_scores
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
        values = CompletionValues(value_model, pad_token_id=0, device=torch.device("cpu"))(rollouts)[0]
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


def test_the_frozen_layers_run_once_and_the_forwards_above_them_match_whole_ones(tiny_models):
    """PPO keeps the frozen layers' output from the old log-probs' and values' forwards and starts
    every training forward above it: same log-probs, values and gradients as the whole model's (in
    float64), for a minibatch narrower than the rollouts and with a longer ptx row appended, and the
    frozen layers do not run again for the rows they already ran on."""
    policy = load_policy(tiny_models["policy"]).double().train()
    value_model = load_reward_model(tiny_models["reward"]).double().train()
    frozen = {model: FrozenLower(model, freeze_lower_layers(model, 0.5)) for model in (policy, value_model)}
    assert all(part.frozen == 1 and part.supported for part in frozen.values())
    cpu = torch.device("cpu")
    whole_logprobs, split_logprobs = CompletionLogprobs(policy, cpu), CompletionLogprobs(policy, cpu, frozen[policy])
    whole_values = CompletionValues(value_model, 0, cpu)
    split_values = CompletionValues(value_model, 0, cpu, frozen[value_model])
    rollouts = Rollouts.build(PROMPTS, COMPLETIONS)
    with torch.no_grad():
        logprobs, mask, policy_lower = split_logprobs(rollouts.sequences, rollouts.prompt_lengths)
        values, value_lower = split_values(rollouts)
        torch.testing.assert_close(logprobs, whole_logprobs(rollouts.sequences, rollouts.prompt_lengths)[0],
                                   rtol=0, atol=1e-12)
        torch.testing.assert_close(values, whole_values(rollouts)[0], rtol=0, atol=1e-12)
    assert policy_lower.shape == (3, 7, 64) and value_lower.shape == (3, 7, 64)  # (rows, longest, hidden)

    runs = []
    hook = decoder_layers(policy)[0].register_forward_hook(lambda module, args, out: runs.append(args[0].shape[0]))
    idx = [1, 0]  # 6 and 5 tokens: narrower than the rollouts' 7
    ptx = Rollouts([list(range(30, 42))], [1])  # 12 tokens: wider than them
    rows = rollouts.rows(idx) + ptx

    def loss_and_grads(module, lower):
        policy.zero_grad()
        logprobs = module(rows.sequences, rows.prompt_lengths, *([lower[idx]] if lower is not None else []))[0]
        (logprobs ** 2).sum().backward()
        return logprobs.detach(), {n: p.grad.clone() for n, p in policy.named_parameters() if p.requires_grad}

    expected, expected_grads = loss_and_grads(whole_logprobs, None)
    runs.clear()
    got, grads = loss_and_grads(split_logprobs, policy_lower)
    assert runs == [1], "the frozen layer ran for the ptx row only"
    hook.remove()
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    assert grads.keys() == expected_grads.keys() and len(grads) > 0
    for name in grads:
        torch.testing.assert_close(grads[name], expected_grads[name], rtol=1e-9, atol=1e-12, msg=name)
    minibatch = rollouts.rows(idx)
    torch.testing.assert_close(split_values(minibatch, value_lower[idx])[0], whole_values(minibatch)[0],
                               rtol=0, atol=1e-12)


def test_nothing_to_split_without_frozen_layers_or_with_all_of_them(tiny_models):
    policy = load_policy(tiny_models["policy"])
    assert not FrozenLower(policy, 0).supported
    assert not FrozenLower(policy, 2).supported  # every layer frozen: nothing above to train
    assert FrozenLower(policy, 1).supported


def test_a_value_model_shares_the_policys_frozen_part_only_when_it_computes_the_same(tiny_models):
    """As the demo's value model does (an RM that froze the same layers of the same SFT model): then
    one lower pass serves both; any difference in the frozen weights, or a LoRA adapter there that is
    not zero, and each model runs its own."""
    from rlhf.config import LoraConfig
    from rlhf.models import lora

    policy = load_policy(tiny_models["policy"])
    value_model = load_reward_model(tiny_models["policy"])  # the policy's trunk, a new scalar head
    for model in (policy, value_model):
        lora.add_adapters(model, LoraConfig(rank=4))
        freeze_lower_layers(model, 0.5)
    policy_part, value_part = FrozenLower(policy, 1), FrozenLower(value_model, 1)
    assert policy_part.computes_as(value_part)
    assert not policy_part.computes_as(FrozenLower(load_reward_model(tiny_models["reward"]), 1))  # another trunk
    assert not policy_part.computes_as(FrozenLower(value_model, 0))
    lora_b = next(p for name, p in decoder_layers(value_model)[0].named_parameters() if "lora_B" in name)
    with torch.no_grad():
        lora_b.fill_(0.01)
        assert not policy_part.computes_as(value_part)
        lora_b.zero_()
        assert policy_part.computes_as(value_part)
        value_model.get_input_embeddings().weight[49000, 0] += 1e-3  # a token no probe uses
        assert not policy_part.computes_as(value_part)
