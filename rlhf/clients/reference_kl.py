"""Typed client of the reference-KL service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from rlhf.clients.base import BaseClient
from rlhf.proto.packing import pack_floats, pack_tokens, unpack_floats
from rlhf.proto.v1 import reference_kl_pb2, reference_kl_pb2_grpc


@dataclass
class LogProbsResult:
    """Per sequence: the reference log-probs of its completion tokens and, when the policy's
    log-probs were sent, the per-token KL estimate (policy - reference), its sum, and the batch mean."""

    logprobs: list[np.ndarray]
    kl: list[np.ndarray] | None = None
    sequence_kl: list[float] | None = None
    mean_kl: float | None = None


class ReferenceKLClient(BaseClient):
    SERVICE = "reference-kl"
    STUB = reference_kl_pb2_grpc.ReferenceKLStub

    def logprobs(self, sequences: Sequence[Sequence[int]], prompt_lengths: Sequence[int],
                 policy_logprobs: Sequence[Sequence[float]] | None = None,
                 timeout: float | None = None, temperature: float = 1.0) -> LogProbsResult:
        """`sequences` are prompt + completion token ids; `prompt_lengths[i]` of them are prompt.
        `policy_logprobs[i]`, if given, holds one value per completion token of sequence i. With
        `temperature`, the log-probs are those of softmax(logits / temperature)."""
        request = reference_kl_pb2.LogProbsRequest(sequences=pack_tokens(sequences), prompt_lengths=list(prompt_lengths),
                                                   temperature=temperature)
        if policy_logprobs is not None:
            request.policy_logprobs.CopyFrom(pack_floats(policy_logprobs))
        response = self._unary("LogProbs", request, timeout, work_s=self.config.score_s_per_sequence * len(sequences))
        result = LogProbsResult(logprobs=unpack_floats(response.logprobs, "logprobs"))
        if policy_logprobs is not None:
            result.kl = unpack_floats(response.kl, "kl")
            result.sequence_kl = list(response.sequence_kl)
            result.mean_kl = response.mean_kl
        return result
