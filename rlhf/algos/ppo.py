"""PPO for RLHF as in InstructGPT (Ouyang et al. 2022, sec. 3.5), following Ziegler et al. 2019
and Stiennon et al. 2020.

The policy maximises

    E_{x, y ~ pi}[ r(x, y) - beta * log(pi(y|x) / pi_SFT(y|x)) ] + gamma_ptx * E_{x ~ D_pretrain}[ log pi(x) ]

Each completion is an episode whose actions are its tokens. The KL term is paid per token and the
RM score arrives on the last token (`kl_penalty_rewards`); GAE (Schulman et al. 2016) turns that
into per-token advantages and returns (`gae_advantages`); advantages are whitened over the valid
tokens of the rollout batch (`masked_whiten`); the policy and value heads are trained with PPO's
clipped objectives (Schulman et al. 2017; `policy_loss`, `value_loss`). beta is fixed or adapted
towards a target KL (`AdaptiveKLController`, Ziegler et al. 2019, sec. 2.2).

One PPO-ptx minibatch step minimises

    policy_loss + value_loss + gamma_ptx * ptx_loss

where `ptx_loss` is the LM negative log-likelihood of a pretraining batch, so gamma_ptx scales the
pretraining gradient relative to the PPO gradient (InstructGPT sec. 3.5, "PPO-ptx"). The policy
and the value model share no parameters and have optimizers of their own, so the value loss needs
no weight.

Tensors are (B, T) over the completion tokens with `mask` 1 on valid tokens and 0 on padding;
valid tokens of a row are contiguous (padding on either side).
"""

from __future__ import annotations

from typing import Callable

import torch

from rlhf.algos.sft import sft_loss


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sum(x * mask) / sum(mask): the mean over valid entries (0 when there is none)."""
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor,
                  total: Callable[[torch.Tensor], torch.Tensor] = lambda t: t) -> torch.Tensor:
    """(x - mean) / sqrt(var + 1e-8) over the valid entries; padding positions are set to 0.

    mean and var are taken over all valid tokens of the batch (not per row); var is the unbiased
    (Bessel-corrected, n - 1) variance as in TRL, so the valid entries come out with sample std 1.
    Whitening advantages keeps the policy step size independent of the reward scale, which drifts as
    the policy improves. Raises ValueError with fewer than 2 valid entries (no variance to estimate).
    `total` turns a local sum into the sum over every worker (data-parallel PPO whitens the global
    batch, as one process would).
    """
    mask = mask.to(x.dtype)
    n = total(mask.sum())
    if n < 2:
        raise ValueError(f"masked_whiten needs at least 2 valid entries, got {int(n)}")
    mean = total((x * mask).sum()) / n
    var = total((((x - mean) * mask) ** 2).sum()) / (n - 1)
    return (x - mean) * torch.rsqrt(var + 1e-8) * mask


@torch.no_grad()
def kl_penalty_rewards(rm_scores: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor,
                       mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """Per-token rewards (B, T): -kl_coef * (logp_t - ref_logp_t) on every valid token, plus the RM
    score r(x, y) on the last valid token of each row; 0 on padding.

    logp_t - ref_logp_t is the single-sample estimate of KL(pi || pi_SFT) at token t, so the
    episode return sums to r(x, y) - beta * log(pi(y|x) / pi_SFT(y|x)), the objective above
    (Ziegler et al. 2019, eq. 2). Paying the KL per token gives the value function a dense signal.
    Raises ValueError if a row has no valid token (its score would have nowhere to go).
    """
    mask = mask.to(logprobs.dtype)
    if (mask.sum(1) == 0).any():
        raise ValueError("every row needs at least one valid token to carry its RM score")
    rewards = -kl_coef * (logprobs - ref_logprobs) * mask
    positions = torch.arange(mask.shape[1], device=mask.device)
    last = (mask * positions).argmax(1)
    rows = torch.arange(mask.shape[0], device=mask.device)
    rewards[rows, last] += rm_scores.to(rewards.dtype)
    return rewards


@torch.no_grad()
def gae_advantages(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
                   gamma: float = 1.0, lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016) over the valid tokens of each row.

        delta_t = r_t + gamma * V_{t+1} - V_t,    A_t = delta_t + gamma * lam * A_{t+1}

    with V and A after the last valid token equal to 0 (the episode ends there: no bootstrap).
    Returns (advantages, returns), returns = advantages + values: the lambda-return targets of the
    value loss. Padding contributes nothing and is 0 in both outputs. InstructGPT uses gamma = 1
    (the episode is one completion); lam = 0.95 trades the bias of the value estimate against the
    variance of the summed per-token KL rewards.
    """
    mask = mask.to(values.dtype)
    values = values * mask
    rewards = rewards * mask
    advantages = torch.zeros_like(values)
    next_value = torch.zeros_like(values[:, 0])
    next_advantage = torch.zeros_like(values[:, 0])
    for t in reversed(range(values.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        next_advantage = (delta + gamma * lam * next_advantage) * mask[:, t]
        next_value = values[:, t]
        advantages[:, t] = next_advantage
    return advantages, advantages + values


def policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                mask: torch.Tensor, clip: float = 0.2) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO's clipped surrogate (Schulman et al. 2017, eq. 7), as a loss to minimise:

        rho_t = exp(logp_t - old_logp_t)
        loss  = masked_mean( max(-A_t * rho_t, -A_t * clip(rho_t, 1 - clip, 1 + clip)) )

    The max of the negated terms is the pessimistic bound: the policy gains nothing from moving
    rho beyond [1 - clip, 1 + clip] in the direction the advantage favours. Stats (detached):
    `clipfrac`, the fraction of valid tokens where the clipped term is the active one; `approx_kl`,
    the k3 estimate masked_mean((rho - 1) - log rho) of KL(old || new) (Schulman 2020, "Approximating
    KL divergence": unbiased on samples from the old policy, never negative).
    """
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    stats = {
        "clipfrac": masked_mean((clipped > unclipped).to(logprobs.dtype), mask).detach(),
        "approx_kl": masked_mean((ratio - 1) - log_ratio, mask).detach(),
    }
    return loss, stats


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip: float = 0.2) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped value loss (PPO2 baselines; Ziegler et al. 2019, TRL):

        V_clip = old_V + clip(V - old_V, -clip, clip)
        loss   = 0.5 * masked_mean( max((V - R)^2, (V_clip - R)^2) )

    `clip` is absolute, in reward units. Like the policy clip, it keeps one rollout batch from
    pulling the value head (initialised from the RM) far from where it was when the batch was
    collected. Stats (detached): `value_clipfrac`, the fraction of valid tokens where the clipped error
    is the larger one (named apart from the policy's `clipfrac`: the trainer logs both).
    """
    clipped_values = old_values + torch.clamp(values - old_values, -clip, clip)
    unclipped_error = (values - returns) ** 2
    clipped_error = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(unclipped_error, clipped_error), mask)
    stats = {"value_clipfrac": masked_mean((clipped_error > unclipped_error).to(values.dtype), mask).detach()}
    return loss, stats


def ptx_loss(logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The pretraining LM loss of PPO-ptx: mean next-token NLL over the masked tokens of a
    pretraining batch. The trainer and the alignment-tax perplexity both get `logprobs, mask` from
    `rlhf.models.scoring.padded_completion_logprobs` with a 1-token "prompt", so every token that
    has a real token before it is a target (under left padding the first real token would otherwise
    be "predicted" from a pad position). The objective adds gamma_ptx * ptx_loss to the PPO loss
    (InstructGPT sec. 3.5), which limits the "alignment tax" on public NLP tasks.
    """
    return sft_loss(logprobs, mask)


class KLController:
    """The KL coefficient beta. `value` is the current beta; `update(current_kl, n_steps)` is called
    once per rollout batch with the batch's mean per-sequence KL(pi || pi_SFT) and the number of
    episodes in it; `state_dict`/`load_state_dict` carry beta through a checkpoint."""

    def __init__(self, kl_coef: float):
        self.value = float(kl_coef)

    def update(self, current_kl: float, n_steps: int) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.value = float(state["value"])


class FixedKLController(KLController):
    """A constant beta (InstructGPT's setting: beta = 0.02)."""

    def update(self, current_kl: float, n_steps: int) -> None:
        pass


class AdaptiveKLController(KLController):
    """Ziegler et al. 2019 (sec. 2.2): steer beta so the KL stays near `target`.

        e_t  = clip(KL_t / target - 1, -0.2, 0.2)
        beta <- beta * (1 + e_t * n_steps / horizon)

    A proportional controller in log-space: at most a 20 % relative error is acted on per update,
    and `horizon` (in episodes) sets how fast beta moves, so one noisy batch cannot swing it.
    """

    def __init__(self, init_kl_coef: float, target: float, horizon: int):
        if target <= 0 or horizon <= 0:
            raise ValueError(f"target and horizon must be positive, got {target} and {horizon}")
        super().__init__(init_kl_coef)
        self.target = float(target)
        self.horizon = horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        proportional_error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + proportional_error * n_steps / self.horizon
