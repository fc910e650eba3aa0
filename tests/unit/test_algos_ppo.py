"""PPO math against float64 loops / numpy written here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlhf.algos.ppo import (AdaptiveKLController, FixedKLController, gae_advantages, kl_penalty_rewards,
                            masked_mean, masked_whiten, policy_loss, value_loss)

# Right-padded completions of lengths 5, 2, 7, 1 in T = 7.
LENGTHS = [5, 2, 7, 1]
B, T = len(LENGTHS), 7


def make_mask(lengths=LENGTHS, t=T) -> torch.Tensor:
    return torch.tensor([[1.0] * n + [0.0] * (t - n) for n in lengths], dtype=torch.float64)


def randn(seed: int) -> torch.Tensor:
    return torch.randn(B, T, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def reference_gae(rewards: list[float], values: list[float], gamma: float, lam: float) -> tuple[list[float], list[float]]:
    """GAE over one unpadded episode, V after the end = 0."""
    n = len(rewards)
    advantages = [0.0] * n
    running = 0.0
    for t in reversed(range(n)):
        next_value = values[t + 1] if t + 1 < n else 0.0
        running = rewards[t] + gamma * next_value - values[t] + gamma * lam * running
        advantages[t] = running
    return advantages, [a + v for a, v in zip(advantages, values)]


def test_masked_mean_ignores_padding():
    x, mask = randn(0), make_mask()
    expected = np.mean([x[b, t].item() for b in range(B) for t in range(LENGTHS[b])])
    assert masked_mean(x, mask).item() == pytest.approx(expected, abs=1e-12)
    assert masked_mean(x, torch.zeros_like(mask)).item() == 0.0


def test_kl_penalty_rewards_score_on_last_valid_token():
    logprobs, ref_logprobs, mask = randn(1), randn(2), make_mask()
    scores = torch.tensor([1.5, -2.0, 0.25, 4.0], dtype=torch.float64)
    rewards = kl_penalty_rewards(scores, logprobs, ref_logprobs, mask, kl_coef=0.1)
    for b, n in enumerate(LENGTHS):
        for t in range(T):
            expected = 0.0
            if t < n:
                expected = -0.1 * (logprobs[b, t].item() - ref_logprobs[b, t].item())
            if t == n - 1:
                expected += scores[b].item()
            assert rewards[b, t].item() == pytest.approx(expected, abs=1e-12)
    # The episode return is r(x, y) - beta * sum_t (logp - ref_logp).
    kl = [sum(logprobs[b, t].item() - ref_logprobs[b, t].item() for t in range(n)) for b, n in enumerate(LENGTHS)]
    assert rewards.sum(1).tolist() == pytest.approx([s - 0.1 * k for s, k in zip(scores.tolist(), kl)], abs=1e-12)


def test_kl_penalty_rewards_left_padding_and_empty_row():
    mask = torch.tensor([[0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    zeros = torch.zeros(2, 4)
    rewards = kl_penalty_rewards(torch.tensor([3.0, 5.0]), zeros, zeros, mask, kl_coef=0.1)
    assert rewards.tolist() == [[0, 0, 0, 3.0], [0, 0, 5.0, 0]]
    with pytest.raises(ValueError, match="valid token"):
        kl_penalty_rewards(torch.tensor([1.0]), zeros[:1], zeros[:1], torch.zeros(1, 4), kl_coef=0.1)


@pytest.mark.parametrize("gamma,lam", [(1.0, 0.95), (0.9, 0.8)])
def test_gae_matches_backward_loop_per_episode(gamma, lam):
    rewards, values, mask = randn(3), randn(4), make_mask()
    # Garbage on padding must not leak into valid tokens.
    rewards = torch.where(mask.bool(), rewards, torch.full_like(rewards, 123.0))
    values = torch.where(mask.bool(), values, torch.full_like(values, -77.0))
    advantages, returns = gae_advantages(rewards, values, mask, gamma=gamma, lam=lam)
    for b, n in enumerate(LENGTHS):
        ref_adv, ref_ret = reference_gae(rewards[b, :n].tolist(), values[b, :n].tolist(), gamma, lam)
        assert advantages[b, :n].tolist() == pytest.approx(ref_adv, abs=1e-12)
        assert returns[b, :n].tolist() == pytest.approx(ref_ret, abs=1e-12)
        assert advantages[b, n:].abs().sum() == 0 and returns[b, n:].abs().sum() == 0


def test_gae_lambda_one_is_future_reward_sum_minus_value():
    rewards, values, mask = randn(5), randn(6), make_mask()
    advantages, returns = gae_advantages(rewards, values, mask, gamma=1.0, lam=1.0)
    for b, n in enumerate(LENGTHS):
        for t in range(n):
            future = sum(rewards[b, s].item() for s in range(t, n))
            assert advantages[b, t].item() == pytest.approx(future - values[b, t].item(), abs=1e-12)
            assert returns[b, t].item() == pytest.approx(future, abs=1e-12)


def test_masked_whiten_valid_entries_mean_zero_std_one():
    x, mask = randn(7) * 5 + 3, make_mask()
    x = torch.where(mask.bool(), x, torch.full_like(x, 1e6))
    valid = np.array([x[b, t].item() for b in range(B) for t in range(LENGTHS[b])], dtype=np.float64)
    whitened = masked_whiten(x, mask)
    out = np.array([whitened[b, t].item() for b in range(B) for t in range(LENGTHS[b])])
    np.testing.assert_allclose(out, (valid - valid.mean()) / np.sqrt(valid.var(ddof=1) + 1e-8), atol=1e-12)
    assert abs(out.mean()) < 1e-12 and out.std(ddof=1) == pytest.approx(1.0, abs=1e-8)
    assert whitened[mask == 0].abs().sum() == 0
    one_valid = torch.zeros_like(mask)
    one_valid[0, 0] = 1
    with pytest.raises(ValueError, match="at least 2"):
        masked_whiten(x, one_valid)


def test_policy_loss_and_clipfrac_by_hand():
    # Ratios exp(log_ratio) on both sides of [0.8, 1.2], with both advantage signs; last column is padding.
    log_ratio = torch.tensor([[np.log(1.5), np.log(1.5), np.log(0.5), np.log(0.5), 0.0],
                              [np.log(1.1), np.log(0.9), np.log(1.3), 5.0, 5.0]], dtype=torch.float64)
    advantages = torch.tensor([[2.0, -2.0, 1.0, -1.0, 9.0], [1.0, -3.0, 0.5, 9.0, 9.0]], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]], dtype=torch.float64)
    old = torch.full_like(log_ratio, -1.0)
    new = (old + log_ratio).requires_grad_(True)
    loss, stats = policy_loss(new, old, advantages, mask, clip=0.2)
    terms, clipped, k3 = [], [], []
    for b in range(2):
        for t in range(5):
            if mask[b, t]:
                a, r = advantages[b, t].item(), float(np.exp(log_ratio[b, t].item()))
                surrogate_unclipped, surrogate_clipped = -a * r, -a * min(max(r, 0.8), 1.2)
                terms.append(max(surrogate_unclipped, surrogate_clipped))
                clipped.append(surrogate_clipped > surrogate_unclipped)
                k3.append(r - 1 - np.log(r))
    # Hand check of the four cases in row 0: r=1.5,A=2 -> clipped (-2.4); r=1.5,A=-2 -> unclipped (3.0);
    # r=0.5,A=1 -> unclipped (-0.5); r=0.5,A=-1 -> clipped (0.8).
    assert terms[:4] == pytest.approx([-2.4, 3.0, -0.5, 0.8])
    assert clipped == [True, False, False, True, False, False, True]
    assert loss.item() == pytest.approx(np.mean(terms), abs=1e-12)
    assert stats["clipfrac"].item() == pytest.approx(3 / 7)
    assert stats["approx_kl"].item() == pytest.approx(np.mean(k3), abs=1e-12)
    # Gradient flows only through unclipped valid tokens: d/dlogp (-A r) = -A r.
    loss.backward()
    expected_grad = torch.zeros_like(new)
    index = 0
    for b in range(2):
        for t in range(5):
            if mask[b, t]:
                if not clipped[index]:
                    expected_grad[b, t] = -advantages[b, t] * np.exp(log_ratio[b, t].item()) / 7
                index += 1
    torch.testing.assert_close(new.grad, expected_grad, atol=1e-12, rtol=0)


def test_value_loss_clipping_by_hand():
    old_values = torch.tensor([[0.0, 0.0, 0.0, 1.0], [2.0, 2.0, 0.0, 0.0]], dtype=torch.float64)
    values = torch.tensor([[0.5, 0.5, -0.1, 1.0], [1.0, 2.1, 0.0, 0.0]], dtype=torch.float64)
    returns = torch.tensor([[1.0, -1.0, 0.0, 3.0], [0.0, 5.0, 8.0, 8.0]], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.float64)
    loss, stats = value_loss(values, old_values, returns, mask, clip=0.2)
    errors, clipped = [], []
    for b in range(2):
        for t in range(4):
            if mask[b, t]:
                v, o, r = values[b, t].item(), old_values[b, t].item(), returns[b, t].item()
                vc = o + min(max(v - o, -0.2), 0.2)
                errors.append(0.5 * max((v - r) ** 2, (vc - r) ** 2))
                clipped.append((vc - r) ** 2 > (v - r) ** 2)
    # (0.5 toward 1 clipped to 0.2: 0.5*0.64), (0.5 away from -1: unclipped 0.5*2.25), (-0.1 within clip),
    # (no move), (1.0 toward 0 clipped to 1.8: 0.5*3.24), (2.1 within clip).
    assert errors == pytest.approx([0.32, 1.125, 0.005, 2.0, 1.62, 0.5 * 2.9 ** 2])
    assert clipped == [True, False, False, False, True, False]
    assert loss.item() == pytest.approx(np.mean(errors), abs=1e-12)
    assert stats["value_clipfrac"].item() == pytest.approx(2 / 6)


def test_adaptive_kl_controller_sequence_and_state_dict():
    controller = AdaptiveKLController(init_kl_coef=0.2, target=6.0, horizon=10000)
    updates = [(12.0, 256), (6.6, 256), (1.0, 512), (5.7, 128)]
    beta = 0.2
    for kl, n in updates:
        controller.update(kl, n)
        error = kl / 6.0 - 1.0
        error = 0.2 if error > 0.2 else (-0.2 if error < -0.2 else error)
        beta = beta * (1.0 + error * n / 10000)
        assert controller.value == pytest.approx(beta, rel=1e-15)
    assert beta == pytest.approx(0.2 * (1 + 0.2 * 0.0256) * (1 + 0.1 * 0.0256) * (1 - 0.2 * 0.0512) * (1 - 0.05 * 0.0128))
    resumed = AdaptiveKLController(init_kl_coef=0.2, target=6.0, horizon=10000)
    resumed.load_state_dict(controller.state_dict())
    assert resumed.value == controller.value
    controller.update(9.0, 64)
    resumed.update(9.0, 64)
    assert resumed.value == controller.value
    with pytest.raises(ValueError):
        AdaptiveKLController(0.1, target=0.0, horizon=10)


def test_fixed_kl_controller():
    controller = FixedKLController(0.02)
    controller.update(100.0, 512)
    assert controller.value == 0.02
    other = FixedKLController(0.5)
    other.load_state_dict(controller.state_dict())
    assert other.value == 0.02
