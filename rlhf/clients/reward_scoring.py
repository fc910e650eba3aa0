"""Typed client of the reward-scoring service."""

from __future__ import annotations

from typing import Sequence

from rlhf.clients.base import BaseClient
from rlhf.proto.v1 import reward_scoring_pb2, reward_scoring_pb2_grpc


class RewardScoringClient(BaseClient):
    """Also the trainer's client of reward-kserve, which wants a bearer token (a file named by
    RLHF_REWARD_TOKEN_FILE, else by RLHF_SERVICE_TOKEN_FILE as the internal services) and may serve
    TLS (CA bundle named by RLHF_REWARD_CA_FILE, else RLHF_SERVICE_CA_FILE)."""

    SERVICE = "reward-scoring"
    STUB = reward_scoring_pb2_grpc.RewardScoringStub
    TOKEN_FILE_ENV = ("RLHF_REWARD_TOKEN_FILE", "RLHF_SERVICE_TOKEN_FILE")
    CA_FILE_ENV = ("RLHF_REWARD_CA_FILE", "RLHF_SERVICE_CA_FILE")

    def score(self, prompts: Sequence[str], completions: Sequence[str], timeout: float | None = None) -> list[float]:
        """The reward of each (prompts[i], completions[i]) pair, in order. Prompts are the raw
        instructions: the service applies the reward model's own chat template."""
        request = reward_scoring_pb2.ScoreRequest(prompts=list(prompts), completions=list(completions))
        work_s = self.config.score_s_per_sequence * len(prompts)
        return list(self._unary("Score", request, timeout, work_s=work_s).scores)
