"""Ranking loss, pairs and bias shift against float64 loops written here."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from rlhf.algos.reward import RankingPairs, ranking_loss, ranking_pairs, reward_bias_shift

# Mixed K in one batch: K = 2 (a chosen/rejected pair: completions [chosen, rejected]), 3, 9, 2.
RANKINGS = [[0, 1], [2, 0, 1], [4, 8, 0, 3, 7, 1, 6, 2, 5], [1, 0]]


def log_sigmoid(d: float) -> float:
    return -math.log1p(math.exp(-d)) if d >= 0 else d - math.log1p(math.exp(d))


def reference(rewards: list[float], rankings: list[list[int]]) -> tuple[float, float, list[float]]:
    """(loss, accuracy, d loss / d rewards): per prompt, mean over its C(K,2) pairs, then mean over prompts."""
    loss, accuracy, grad = 0.0, 0.0, [0.0] * len(rewards)
    offset = 0
    for ranking in rankings:
        pairs = list(itertools.combinations(ranking, 2))  # (better, worse) in ranking order
        assert len(pairs) == math.comb(len(ranking), 2)
        for better, worse in pairs:
            w, l = offset + better, offset + worse
            d = rewards[w] - rewards[l]
            weight = 1.0 / (len(pairs) * len(rankings))
            loss -= weight * log_sigmoid(d)
            accuracy += weight * (d > 0)
            sigmoid_minus_d = 1.0 / (1.0 + math.exp(d))  # d/dd of -log sigmoid(d) is -sigmoid(-d)
            grad[w] -= weight * sigmoid_minus_d
            grad[l] += weight * sigmoid_minus_d
        offset += len(ranking)
    return loss, accuracy, grad


def test_ranking_pairs_indices_and_weights():
    pairs = ranking_pairs([[0, 1], [2, 0, 1]])
    assert pairs.winner.tolist() == [0, 4, 4, 2]
    assert pairs.loser.tolist() == [1, 2, 3, 3]
    assert pairs.weight.tolist() == pytest.approx([1 / 2, 1 / 6, 1 / 6, 1 / 6])
    big = ranking_pairs(RANKINGS)
    assert len(big.winner) == 1 + 3 + 36 + 1
    assert big.weight.sum().item() == pytest.approx(1.0)


def test_tied_completions_form_no_pair():
    # Prompt 0: 2 beats the tied 0 and 3, which beat 1: 2 + 2 + 1 = 5 pairs of C(4, 2) = 6.
    pairs = ranking_pairs([[2, [0, 3], 1], [[1, 0], 2]])
    assert list(zip(pairs.winner.tolist(), pairs.loser.tolist())) == [(2, 0), (2, 3), (2, 1), (0, 1), (3, 1),
                                                                       (5, 6), (4, 6)]
    assert pairs.weight.tolist() == pytest.approx([1 / 10] * 5 + [1 / 4] * 2)
    rewards = torch.tensor([0.5, -1.0, 2.0, 0.1, 0.0, 0.3, 0.2], dtype=torch.float64)
    loss, accuracy = ranking_loss(rewards, pairs)
    margins_0 = [1.5, 1.9, 3.0, 1.5, 1.1]
    margins_1 = [-0.2, 0.1]
    expected = (-sum(log_sigmoid(m) for m in margins_0) / 5 - sum(log_sigmoid(m) for m in margins_1) / 2) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    assert accuracy.item() == pytest.approx((1.0 + 0.5) / 2)


@pytest.mark.parametrize("bad", [[[0]], [[0, 0]], [[1, 2]], [[0, 1], [0, 2, 3]], [], [[[0, 1]]], [[0, [1, 1]]]])
def test_ranking_pairs_rejects_non_permutations(bad):
    with pytest.raises(ValueError):
        ranking_pairs(bad)


def test_ranking_loss_mixed_k_matches_loop_and_gradient():
    torch.manual_seed(0)
    n = sum(len(r) for r in RANKINGS)
    rewards = (torch.randn(n, dtype=torch.float64) * 2).requires_grad_(True)
    loss, accuracy = ranking_loss(rewards, ranking_pairs(RANKINGS))
    ref_loss, ref_accuracy, ref_grad = reference(rewards.tolist(), RANKINGS)
    assert loss.item() == pytest.approx(ref_loss, abs=1e-12)
    assert accuracy.item() == pytest.approx(ref_accuracy, abs=1e-12)
    assert 0 < ref_accuracy < 1
    loss.backward()
    assert rewards.grad.tolist() == pytest.approx(ref_grad, abs=1e-12)
    pairs = ranking_pairs(RANKINGS)
    assert torch.autograd.gradcheck(lambda r: ranking_loss(r, pairs)[0], (rewards.detach().requires_grad_(True),))


def test_pairwise_batch_is_mean_of_minus_log_sigmoid_margins():
    # Three chosen/rejected pairs, rewards laid out [c0, r0, c1, r1, c2, r2].
    rewards = torch.tensor([1.0, -0.5, 0.2, 0.7, 3.0, 3.0], dtype=torch.float64)
    loss, accuracy = ranking_loss(rewards, ranking_pairs([[0, 1]] * 3))
    margins = [1.5, -0.5, 0.0]
    assert loss.item() == pytest.approx(-sum(log_sigmoid(m) for m in margins) / 3, abs=1e-12)
    assert accuracy.item() == pytest.approx(1 / 3)  # a tie is not a correct ranking


def test_ranking_loss_is_finite_for_huge_margins():
    rewards = torch.tensor([-1000.0, 1000.0, 5.0, -5.0], requires_grad=True)
    loss, accuracy = ranking_loss(rewards, ranking_pairs([[0, 1], [0, 1]]))
    assert loss.item() == pytest.approx((2000 + math.log1p(math.exp(-10))) / 2, rel=1e-6)
    loss.backward()
    assert torch.isfinite(rewards.grad).all()
    assert accuracy.item() == pytest.approx(0.5)


def test_ranking_loss_accepts_prebuilt_pairs_in_float32():
    pairs = RankingPairs(torch.tensor([1]), torch.tensor([0]), torch.tensor([1.0], dtype=torch.float64))
    loss, accuracy = ranking_loss(torch.tensor([0.0, 2.0]), pairs)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(-log_sigmoid(2.0), rel=1e-6)
    assert accuracy.item() == 1.0


def test_reward_bias_shift_centres_demonstrations():
    scores = [0.25, 1.5, -0.75, 3.0]
    shift = reward_bias_shift(torch.tensor(scores, dtype=torch.float32))
    assert shift == pytest.approx(sum(scores) / 4, abs=1e-7)
    assert sum(s - shift for s in scores) == pytest.approx(0.0, abs=1e-6)
    assert reward_bias_shift(scores) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        reward_bias_shift([])
