"""RewardScoring over gRPC: (prompt, completion) texts in, one reward each out. Pairs from
concurrent callers share forward passes through the runtime's Batcher (one item per pair)."""

from __future__ import annotations

from typing import Sequence

import grpc
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from rlhf.config import Config, ConfigError, ServiceConfig
from rlhf.models import format_prompt, load_reward_model, load_tokenizer
from rlhf.models.scoring import reward_inputs, score_sequences, tokenize_texts
from rlhf.proto.v1 import common_pb2, reward_scoring_pb2, reward_scoring_pb2_grpc
from services.runtime import TOKENS, Batcher, InvalidArgument, Service, frozen_model_info

SERVICE = "reward-scoring"


class RewardScoringServicer(reward_scoring_pb2_grpc.RewardScoringServicer):
    """Validates and tokenizes on the event loop; only forward passes go to the model thread."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, info: common_pb2.ModelInfo,
                 config: ServiceConfig):
        self.tokenizer = tokenizer
        self.info = info
        self.batcher = Batcher(SERVICE, lambda sequences: score_sequences(model, sequences),
                               max_batch_size=config.max_batch_size, max_batch_tokens=config.max_batch_tokens,
                               max_wait_ms=config.batch_wait_ms, max_queue=config.max_queue, cost=len)

    def tokenize(self, prompts: Sequence[str], completions: Sequence[str]) -> list[list[int]]:
        """The reward model's token ids of each pair; raises InvalidArgument naming the bad field.
        An empty completion is a legitimate (if poor) answer; an empty prompt is a caller bug."""
        if not prompts:
            raise InvalidArgument("prompts: empty batch; send at least one (prompt, completion) pair")
        if len(completions) != len(prompts):
            raise InvalidArgument(f"completions: {len(completions)} completions for {len(prompts)} prompts; "
                                  "send one completion per prompt")
        for index, prompt in enumerate(prompts):
            if not prompt.strip():
                raise InvalidArgument(f"prompts[{index}]: empty prompt")
        texts = [reward_inputs(self.tokenizer, prompt, completion) for prompt, completion in zip(prompts, completions)]
        sequences = tokenize_texts(self.tokenizer, texts)
        limit = self.info.max_sequence_length
        for index, ids in enumerate(sequences):
            if len(ids) > limit:
                prompt_tokens = len(tokenize_texts(self.tokenizer, [format_prompt(self.tokenizer, prompts[index])])[0])
                if prompt_tokens > limit:
                    raise InvalidArgument(f"prompts[{index}]: {prompt_tokens} tokens, max {limit}")
                raise InvalidArgument(f"completions[{index}]: prompt + completion is {len(ids)} tokens, max {limit}")
        return sequences

    async def Score(self, request: reward_scoring_pb2.ScoreRequest,
                    context: grpc.aio.ServicerContext) -> reward_scoring_pb2.ScoreResponse:
        sequences = self.tokenize(request.prompts, request.completions)
        TOKENS.labels(SERVICE, "in").inc(sum(len(ids) for ids in sequences))
        scores = await self.batcher.submit(sequences)
        return reward_scoring_pb2.ScoreResponse(scores=scores, model_version=self.info.version)

    async def GetInfo(self, request: common_pb2.GetInfoRequest,
                      context: grpc.aio.ServicerContext) -> common_pb2.ModelInfo:
        return self.info


def build(service_config: ServiceConfig, config: Config) -> Service:
    """Loads the reward model and its own tokenizer from `service_config.model`."""
    if not service_config.model:
        raise ConfigError("services.reward_scoring.model: no reward model directory given (--model DIR)")
    model = load_reward_model(service_config.model)
    tokenizer = load_tokenizer(service_config.model)
    info = frozen_model_info(SERVICE, service_config.model, model, tokenizer)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    servicer = RewardScoringServicer(model, tokenizer, info, service_config)
    return Service(name=SERVICE, full_name="rlhf.v1.RewardScoring", servicer=servicer,
                   add_to_server=reward_scoring_pb2_grpc.add_RewardScoringServicer_to_server)
