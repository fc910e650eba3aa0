"""Reward model: the K-way ranking loss and the bias shift.

InstructGPT (Ouyang et al. 2022, sec. 3.5, eq. 1) trains r_theta on rankings of K = 4..9
completions of one prompt (K = 2 is the pairwise chosen/rejected form):

    loss(theta) = - 1/C(K,2) * E_{(x, y_w, y_l)} [ log sigmoid(r(x, y_w) - r(x, y_l)) ]

Every one of the C(K,2) pairs implied by the ranking is a comparison, but all K completions of a
prompt go through the model once and the prompt's C(K,2) comparisons form ONE batch element:
treating them as independent samples over-fits (each completion would be seen K - 1 times per
epoch), and K forwards instead of 2*C(K,2) is what makes large K cheap.

Batch layout: a batch holds G prompts; prompt g has K_g completions scored in one flat vector
`rewards` of N = sum_g K_g scores, prompt after prompt, each prompt's completions in their data
order. `ranking_pairs` turns the rankings into index tensors into that vector once, in the collate;
`ranking_loss` is then a gather plus a weighted sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F


class RankingPairs(NamedTuple):
    """All comparisons of a batch. `winner[p]` / `loser[p]` index the flat reward vector (y_w is
    ranked above y_l); `weight[p] = 1 / (P_g * G)` for a pair of prompt g, P_g its number of pairs
    (C(K_g, 2) without ties), so the weights of a prompt sum to 1/G and of the batch to 1."""

    winner: torch.Tensor
    loser: torch.Tensor
    weight: torch.Tensor


def ranking_pairs(rankings: Sequence[Sequence[int | Sequence[int]]]) -> RankingPairs:
    """Pairs and weights for a batch whose prompt g has completions 0..K_g-1 and ranking
    `rankings[g]` (indices of those completions, best first; an entry that is a list is a tie, a
    group the labeler found equally good).

    Completion k of prompt g sits at flat position offset_g + k, offset_g = K_0 + ... + K_{g-1}.
    Every completion beats every completion of a later entry; tied ones form no pair (no preference,
    nothing to learn), so prompt g has C(K_g, 2) pairs minus C(size, 2) per tie, and they share its
    weight 1/G. The pairwise form {"chosen", "rejected"} is K = 2 with ranking [0, 1].
    """
    if not rankings:
        raise ValueError("no rankings")
    winner, loser, weight = [], [], []
    offset = 0
    for g, ranking in enumerate(rankings):
        tiers = [list(entry) if isinstance(entry, Sequence) else [entry] for entry in ranking]
        k = sum(map(len, tiers))
        if len(tiers) < 2 or sorted(i for tier in tiers for i in tier) != list(range(k)):
            raise ValueError(f"ranking {g} must hold 0..K-1 once each in at least two tiers, got {list(ranking)}")
        pairs = [(offset + w, offset + l) for i, better in enumerate(tiers) for worse in tiers[i + 1:]
                 for w in better for l in worse]
        winner += [w for w, _ in pairs]
        loser += [l for _, l in pairs]
        weight += [1.0 / (len(pairs) * len(rankings))] * len(pairs)
        offset += k
    return RankingPairs(torch.tensor(winner), torch.tensor(loser), torch.tensor(weight, dtype=torch.float64))


def ranking_loss(rewards: torch.Tensor, pairs: RankingPairs) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, accuracy) of the flat reward vector `rewards` (N,) on the batch's comparisons.

        loss = 1/G sum_g 1/P_g sum_{(w,l) in pairs(g)} -log sigmoid(r_w - r_l)

    `F.logsigmoid` keeps the loss finite and its gradient exact for any margin (a naive
    log(sigmoid(d)) is -inf below d ~ -100 in float64, ~ -17 in float32).
    Accuracy is weighted the same way, i.e. the per-prompt fraction of pairs with r_w > r_l
    (a tie counts as wrong), averaged over prompts; it equals plain pairwise accuracy when every
    prompt has the same K. Returned detached.
    """
    margin = rewards[pairs.winner] - rewards[pairs.loser]
    weight = pairs.weight.to(device=rewards.device, dtype=rewards.dtype)
    loss = -(weight * F.logsigmoid(margin)).sum()
    accuracy = (weight * (margin > 0).to(rewards.dtype)).sum().detach()
    return loss, accuracy


def reward_bias_shift(demonstration_scores: torch.Tensor | Sequence[float]) -> float:
    """The constant b to subtract from the RM so SFT demonstrations score mean 0: b = mean r(x, y_demo).

    InstructGPT (sec. 3.5) normalises the trained RM this way before PPO. The ranking loss only
    sees differences r_w - r_l, so the RM's offset is arbitrary; fixing it makes reward scales
    comparable across RMs and puts the KL penalty and the reward on a known footing. Apply it by
    subtracting b from the score head's bias (or storing it as an offset if the head has none).
    Averaged in float64.
    """
    scores = torch.as_tensor(demonstration_scores, dtype=torch.float64)
    if scores.numel() == 0:
        raise ValueError("no demonstration scores")
    return float(scores.mean())
