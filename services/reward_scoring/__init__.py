"""The reward-scoring service: `rlhf serve reward-scoring --model DIR`."""

from services.reward_scoring.server import build

__all__ = ["build"]
