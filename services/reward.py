"""The reward model behind both of its front doors, the reward-scoring service (rlhf.v1, for the
trainer) and reward-kserve (Open Inference Protocol, for other teams): a loaded version
(`RewardVersion`), admission and tokenization (`admitted_sequences`), the batcher that scores
pairs of concurrent callers in shared forward passes (`reward_batcher`, `score_items`) and the
rlhf.v1 servicer. Both services build on this module and never on each other, so every path
validates, tokenizes, batches and scores the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import grpc
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from rlhf.device import device
from rlhf.models import format_prompt, load_reward_model, load_tokenizer
from rlhf.models.scoring import reward_inputs, score_sequences, tokenize_texts
from rlhf.proto.v1 import common_pb2, reward_scoring_pb2, reward_scoring_pb2_grpc
from services.runtime import TOKENS, Batcher, InvalidArgument, check_sizes, model_info, off_loop

SERVICE = "reward-scoring"


@dataclass(eq=False)
class RewardVersion:
    """One loaded reward model. A request is admitted to a version and keeps it to the end, even
    if a newer one becomes the default meanwhile."""

    name: str
    """The version callers pin ("3"); "0" for the plain reward-scoring service."""
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    info: common_pb2.ModelInfo
    """What GetInfo answers: weights revision, tokenizer fingerprint, max sequence length."""

    def tokenize(self, prompts: Sequence[str], completions: Sequence[str],
                 fields: tuple[str, str] = ("prompts", "completions")) -> list[list[int]]:
        """The reward model's token ids of each pair; raises InvalidArgument naming the bad field
        (`fields` are the caller's names for the two inputs). An empty completion is a legitimate
        (if poor) answer; an empty prompt is a caller bug."""
        prompt_field, completion_field = fields
        if not prompts:
            raise InvalidArgument(f"{prompt_field}: empty batch; send at least one (prompt, completion) pair")
        if len(completions) != len(prompts):
            raise InvalidArgument(f"{completion_field}: {len(completions)} completions for {len(prompts)} prompts; "
                                  "send one completion per prompt")
        for index, prompt in enumerate(prompts):
            if not prompt.strip():
                raise InvalidArgument(f"{prompt_field}[{index}]: empty prompt")
        texts = [reward_inputs(self.tokenizer, prompt, completion) for prompt, completion in zip(prompts, completions)]
        sequences = tokenize_texts(self.tokenizer, texts)
        limit = self.info.max_sequence_length
        for index, ids in enumerate(sequences):
            if len(ids) > limit:
                prompt_tokens = len(tokenize_texts(self.tokenizer, [format_prompt(self.tokenizer, prompts[index])])[0])
                if prompt_tokens > limit:
                    raise InvalidArgument(f"{prompt_field}[{index}]: {prompt_tokens} tokens, max {limit}")
                raise InvalidArgument(f"{completion_field}[{index}]: prompt + completion is {len(ids)} tokens, "
                                      f"max {limit}")
        return sequences


def load_version(model_dir: str | Path, *, name: str = "0", service: str = SERVICE,
                 model_name: str | None = None) -> RewardVersion:
    """Loads a reward model and its own tokenizer; GetInfo reports `model_name` (default the
    directory) and the version number `name`."""
    model = load_reward_model(model_dir)
    tokenizer = load_tokenizer(model_dir)
    info = model_info(service, model_name or str(model_dir), model, tokenizer, version=int(name))
    model.to(device())
    return RewardVersion(name, model, tokenizer, info)


def score_items(items: list[tuple[RewardVersion, list[int]]]) -> list[float]:
    """The reward of each (version, token ids) item, in order. While a new version takes over, one
    batch can hold items of two versions: each version scores its own items in one forward pass."""
    scores = [0.0] * len(items)
    groups: dict[int, list[int]] = {}
    for index, (version, _) in enumerate(items):
        groups.setdefault(id(version), []).append(index)
    for indices in groups.values():
        model = items[indices[0]][0].model
        for index, score in zip(indices, score_sequences(model, [items[i][1] for i in indices])):
            scores[index] = score
    return scores


async def admitted_sequences(version: RewardVersion, batcher: Batcher, config: Any, prompts: Sequence[str],
                             completions: Sequence[str], fields: tuple[str, str] = ("prompts", "completions")
                             ) -> list[list[int]]:
    """`version.tokenize` on a worker thread, after the checks that need no tokenizing (pairs per
    call, characters per text, room in the queue: `config` has max_items and max_text_chars), so
    an oversized or overloaded request is refused in milliseconds and health keeps answering."""
    check_sizes(dict(zip(fields, (prompts, completions))), len(prompts), config.max_text_chars, config.max_items,
                fields[0])
    batcher.check_room(len(prompts))
    return await off_loop(version.tokenize, list(prompts), list(completions), fields)


def reward_batcher(service: str, config: Any) -> Batcher:
    """The Batcher of (version, token ids) items; `config` has the batching fields of
    ServiceConfig / RewardServingConfig. A pair costs its token count."""
    return Batcher.from_config(service, score_items, config, cost=lambda item: len(item[1]))


class RewardScoringServicer(reward_scoring_pb2_grpc.RewardScoringServicer):
    """Checks sizes on the event loop, tokenizes on a worker thread, and scores on the model thread.
    `current()` is the version a new request is admitted to; `config` has the limits (max_items,
    max_text_chars)."""

    def __init__(self, current: Callable[[], RewardVersion], batcher: Batcher, config: Any, service: str = SERVICE):
        self.current = current
        self.batcher = batcher
        self.config = config
        self.service = service

    async def Score(self, request: reward_scoring_pb2.ScoreRequest,
                    context: grpc.aio.ServicerContext) -> reward_scoring_pb2.ScoreResponse:
        version = self.current()
        sequences = await admitted_sequences(version, self.batcher, self.config, request.prompts, request.completions)
        TOKENS.labels(self.service, "in").inc(sum(len(ids) for ids in sequences))
        scores = await self.batcher.submit([(version, ids) for ids in sequences])
        return reward_scoring_pb2.ScoreResponse(scores=scores, model_version=version.info.version)

    async def GetInfo(self, request: common_pb2.GetInfoRequest,
                      context: grpc.aio.ServicerContext) -> common_pb2.ModelInfo:
        return self.current().info
