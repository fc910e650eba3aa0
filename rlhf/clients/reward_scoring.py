"""Typed client of the reward-scoring service."""

from __future__ import annotations

from typing import Sequence

from rlhf.clients.base import BaseClient
from rlhf.proto.v1 import common_pb2, reward_scoring_pb2, reward_scoring_pb2_grpc


class RewardScoringClient(BaseClient):
    SERVICE = "reward-scoring"
    STUB = reward_scoring_pb2_grpc.RewardScoringStub

    def score(self, prompts: Sequence[str], completions: Sequence[str], timeout: float | None = None) -> list[float]:
        """The reward of each (prompts[i], completions[i]) pair, in order. Prompts are the raw
        instructions: the service applies the reward model's own chat template."""
        request = reward_scoring_pb2.ScoreRequest(prompts=list(prompts), completions=list(completions))
        return list(self._unary("Score", request, timeout).scores)

    def info(self, timeout: float | None = None) -> common_pb2.ModelInfo:
        return self._unary("GetInfo", common_pb2.GetInfoRequest(), timeout)
