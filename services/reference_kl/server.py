"""ReferenceKL over gRPC: the frozen reference (SFT) policy's log-probs of completion tokens and,
when the caller sends its policy's log-probs, the per-token KL estimate the PPO reward subtracts.
Sequences from concurrent callers share forward passes through the runtime's Batcher."""

from __future__ import annotations

import math

import grpc
import numpy as np
from transformers import PreTrainedModel

from rlhf.config import Config, ConfigError, ServiceConfig
from rlhf.device import device
from rlhf.models import load_policy, load_tokenizer
from rlhf.models.scoring import completion_logprobs
from rlhf.proto.packing import pack_floats, unpack_floats, unpack_tokens
from rlhf.proto.v1 import common_pb2, reference_kl_pb2, reference_kl_pb2_grpc
from services.runtime import TOKENS, Batcher, InvalidArgument, Service, check_sizes, model_info

SERVICE = "reference-kl"

Item = tuple[np.ndarray, int, float]  # (prompt + completion ids, prompt length, temperature)


class ReferenceKLServicer(reference_kl_pb2_grpc.ReferenceKLServicer):
    """Validates on the event loop (token ids need no tokenizing: numpy checks, bounded by
    `max_items`); only forward passes go to the model thread."""

    def __init__(self, model: PreTrainedModel, info: common_pb2.ModelInfo, config: ServiceConfig):
        self.info = info
        self.max_items = config.max_items

        def run_batch(items: list[Item]) -> list[np.ndarray]:
            # Callers' requests share a batch; each temperature takes its own forward.
            out: dict[int, np.ndarray] = {}
            for temperature in {t for _, _, t in items}:
                rows = [i for i, item in enumerate(items) if item[2] == temperature]
                out.update(zip(rows, completion_logprobs(model, [items[i][0] for i in rows],
                                                         [items[i][1] for i in rows], temperature)))
            return [out[i] for i in range(len(items))]

        self.batcher = Batcher.from_config(SERVICE, run_batch, config, cost=lambda item: len(item[0]))

    def validate(self, request: reference_kl_pb2.LogProbsRequest) -> tuple[list[Item], list[np.ndarray] | None]:
        """The request's (sequence, prompt length, temperature) items and, if sent, the policy's
        log-probs; raises InvalidArgument (PackingError for malformed bytes) naming the bad field."""
        temperature = request.temperature or 1.0
        if not (math.isfinite(temperature) and temperature > 0):
            raise InvalidArgument(f"temperature: must be > 0 (unset or 0: 1), got {request.temperature}")
        sequences = unpack_tokens(request.sequences, "sequences")
        if not sequences:
            raise InvalidArgument("sequences: empty batch; send at least one sequence")
        check_sizes({}, len(sequences), 0, self.max_items, "sequences")
        self.batcher.check_room(len(sequences))
        prompt_lengths = list(request.prompt_lengths)
        if len(prompt_lengths) != len(sequences):
            raise InvalidArgument(f"prompt_lengths: {len(prompt_lengths)} values for {len(sequences)} sequences")
        limit, vocab = self.info.max_sequence_length, self.info.vocab_size
        for index, (ids, prompt_length) in enumerate(zip(sequences, prompt_lengths)):
            if len(ids) > limit:
                raise InvalidArgument(f"sequences[{index}]: {len(ids)} tokens, max {limit}")
            outside = np.flatnonzero((ids < 0) | (ids >= vocab))
            if outside.size:
                position = int(outside[0])
                raise InvalidArgument(f"sequences[{index}]: token id {int(ids[position])} at position {position} "
                                      f"is outside the vocabulary [0, {vocab})")
            if not 1 <= prompt_length < len(ids):
                raise InvalidArgument(f"prompt_lengths[{index}]: {prompt_length} for a sequence of {len(ids)} tokens; "
                                      "must be at least 1 and leave at least one completion token")
        items = [(ids, length, temperature) for ids, length in zip(sequences, prompt_lengths)]
        if not request.HasField("policy_logprobs"):
            return items, None
        policy = unpack_floats(request.policy_logprobs, "policy_logprobs")
        if len(policy) != len(sequences):
            raise InvalidArgument(f"policy_logprobs: {len(policy)} sequences, expected {len(sequences)} (one per sequence)")
        for index, (values, ids, prompt_length) in enumerate(zip(policy, sequences, prompt_lengths)):
            if len(values) != len(ids) - prompt_length:
                raise InvalidArgument(f"policy_logprobs[{index}]: {len(values)} values, expected "
                                      f"{len(ids) - prompt_length} (the completion tokens of sequences[{index}])")
            if not np.isfinite(values).all():
                raise InvalidArgument(f"policy_logprobs[{index}]: not every value is finite")
        return items, policy

    async def LogProbs(self, request: reference_kl_pb2.LogProbsRequest,
                       context: grpc.aio.ServicerContext) -> reference_kl_pb2.LogProbsResponse:
        items, policy = self.validate(request)
        TOKENS.labels(SERVICE, "in").inc(sum(len(ids) for ids, _, _ in items))
        reference = await self.batcher.submit(items)
        response = reference_kl_pb2.LogProbsResponse(logprobs=pack_floats(reference))
        if policy is not None:
            kl = [policy_lp - reference_lp for policy_lp, reference_lp in zip(policy, reference)]
            sequence_kl = [float(values.sum(dtype=np.float64)) for values in kl]
            response.kl.CopyFrom(pack_floats(kl))
            response.sequence_kl.extend(sequence_kl)
            response.mean_kl = float(np.mean(sequence_kl))
        return response

    async def GetInfo(self, request: common_pb2.GetInfoRequest,
                      context: grpc.aio.ServicerContext) -> common_pb2.ModelInfo:
        return self.info


def build(service_config: ServiceConfig, config: Config) -> Service:
    """Loads the frozen reference policy (and its tokenizer, for the fingerprint) from `service_config.model`."""
    if not service_config.model:
        raise ConfigError("services.reference_kl.model: no reference policy directory given (--model DIR)")
    model = load_policy(service_config.model)
    tokenizer = load_tokenizer(service_config.model)
    info = model_info(SERVICE, service_config.model, model, tokenizer)
    model.to(device())
    servicer = ReferenceKLServicer(model, info, service_config)
    return Service(name=SERVICE, full_name="rlhf.v1.ReferenceKL", servicer=servicer,
                   add_to_server=reference_kl_pb2_grpc.add_ReferenceKLServicer_to_server,
                   batcher=servicer.batcher)
