"""PolicyInference over gRPC: samples completions from the policy being trained and takes its new
weights from the trainer.

Requests are size-checked on the event loop, then tokenized and decoded on worker threads (never on
the loop, which answers health checks); every completion (prompt i, sample j) is one item for the
runtime's Batcher, so samples of concurrent callers share forward passes. Weight swaps
run on the model thread between batches, so no batch ever sees half-updated weights. The weights'
revision (a hash over every weight, about a second for SmolLM2-135M) is not computed at a swap but
by the first GetInfo of the new version, so a weight push does not stall generation for it.

Weights come by UpdateWeights (streamed, sha256-checked); non-finite weights are refused.

That is the "hf" engine. The servicer keeps the validation and proto path for every engine; an
engine differs only in the hooks `_make_batcher`, `_check_room`, `_generate`, `_install_tensors`,
`_install_adapter`, `_check_adapter_rank` and `_current_revision` (the "vllm" engine:
services/policy_inference/vllm_engine.py).

A push may also be a LoRA adapter (`WeightHeader.adapter_config`, peft's format): a few MB instead of
the whole policy. It applies to the base weights, those loaded or last received whole: "hf" merges
it into a copy of the weights it targets (kept aside, as much memory again as those weights),
"vllm" serves it with vLLM's LoRA support.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from dataclasses import dataclass
from typing import AsyncIterator

import grpc
import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from rlhf.config import Config, ConfigError, ServiceConfig
from rlhf.device import device
from rlhf.models import load_policy, load_tokenizer, lora, weights_revision
from rlhf.models.generation import (STOP, Completion, GenerationItem, SamplingParams, control_token_ids,
                                    generate_batch)
from rlhf.proto.packing import pack_floats, pack_tokens, unpack_tokens
from rlhf.proto.v1 import common_pb2, policy_inference_pb2 as pb, policy_inference_pb2_grpc
from rlhf.storage.base import check_sha256
from services.policy_inference.weights import install_weights, payload_limit, read_adapter, read_weights
from services.runtime import (TOKENS, Batcher, FailedPrecondition, InvalidArgument, Service, check_sizes, model_info,
                              off_loop)

SERVICE = "policy-inference"
MAX_SAMPLES_PER_PROMPT = 64


@dataclass(frozen=True)
class Adapter:
    """A checked LoRA adapter push."""

    pairs: dict[str, tuple[torch.Tensor, torch.Tensor]]  # model weight name -> (A (r, in), B (out, r))
    scale: float                                          # lora_alpha / r
    config: str                                           # peft's adapter_config.json, as received
    payload: bytes                                        # peft's adapter_model.safetensors, as received
    base_revision: str                                    # the base it was trained on; "" unchecked

    def check_base(self, revision: str) -> None:
        """Refuses the adapter when the service's base (revision `revision`) is not its base."""
        if self.base_revision and self.base_revision != revision:
            raise FailedPrecondition(f"header.base_revision: the adapter is for base weights {self.base_revision}, "
                                     f"this service's base is {revision}: push the base whole first")


def _item_cost(item: GenerationItem) -> int:
    return len(item.prompt_ids) + item.params.max_new_tokens


class PolicyInferenceServicer(policy_inference_pb2_grpc.PolicyInferenceServicer):
    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, config: ServiceConfig,
                 info: common_pb2.ModelInfo | None = None):
        self.model = model
        """The weights' names, shapes and dtypes, which pushes are checked against (and for "hf" the model)."""
        self.max_text_chars, self.max_items = config.max_text_chars, config.max_items
        self.tokenizer = tokenizer
        self.never_sampled = control_token_ids(tokenizer)
        self.info = info if info is not None else model_info(SERVICE, config.model, model, tokenizer)
        """GetInfo's fields as loaded (version 0); GetInfo answers a copy with the current version and revision."""
        self.vocab_size = self.info.vocab_size
        self.max_sequence_length = self.info.max_sequence_length
        self.max_batch_tokens = config.max_batch_tokens
        self.max_payload = payload_limit(model)
        self.version = 0  # changed only on the model thread, between batches
        self._base: dict[str, torch.Tensor] = {}  # "hf": base weights an adapter is merged into
        self._base_revision = ""  # "hf": their revision, while an adapter is merged
        self._revision = (self.version, self.info.revision)  # (version, weights_revision) last hashed, by GetInfo
        self.batcher = self._make_batcher(config)

    # ---- engine hooks ("hf": the Batcher's model thread runs generate_batch) -------------------

    def _make_batcher(self, config: ServiceConfig) -> Batcher | None:
        return Batcher.from_config(SERVICE, self._run_batch, config, cost=_item_cost)

    def _check_room(self, items: int) -> None:
        """Refuses (Overloaded) `items` completions that would not fit the queue, before tokenizing."""
        self.batcher.check_room(items)

    async def _generate(self, items: list[GenerationItem]) -> list[tuple[Completion, int]]:
        """Each item's completion with the weights version that produced it."""
        return await self.batcher.submit(items)

    async def _install_tensors(self, tensors: dict[str, torch.Tensor], version: int) -> None:
        """Installs weights checked by `read_weights` as `version`, between batches."""
        await self.batcher.run_exclusive(lambda: self._swap(tensors, version))

    async def _install_adapter(self, adapter: Adapter, version: int) -> None:
        """Serves the base weights with `adapter` applied as `version`, between batches: "hf" merges
        it into its copy of the base weights (`_merge`)."""
        await self.batcher.run_exclusive(lambda: self._merge(adapter, version))

    async def _current_revision(self) -> tuple[int, str]:
        """(version, revision) of the weights serving."""
        version, revision = self._revision
        if version != self.version:  # new weights since the last hash: hash them between batches
            version, revision = await self.batcher.run_exclusive(self._hash_weights)
        return version, revision

    # ---- Generate --------------------------------------------------------------------------------

    def _run_batch(self, items: list[GenerationItem]) -> list[tuple[Completion, int]]:
        """On the model thread: each completion with the weights version that produced it."""
        completions = generate_batch(self.model, items, eos_token_id=self.tokenizer.eos_token_id,
                                     pad_token_id=self.tokenizer.pad_token_id, never_sampled=self.never_sampled)
        TOKENS.labels(SERVICE, "in").inc(sum(len(item.prompt_ids) for item in items))
        TOKENS.labels(SERVICE, "out").inc(sum(len(c.token_ids) for c in completions))
        return [(completion, self.version) for completion in completions]

    async def prompt_ids(self, request: pb.GenerateRequest) -> list[np.ndarray]:
        """The prompts' token ids. Text is tokenized without added special tokens: prompts arrive
        already formatted (chat template included), as the trainer tokenizes them. Sizes (prompts x
        n, characters per prompt) and room in the queue are checked before any tokenizing."""
        has_text, has_ids = len(request.prompts) > 0, request.HasField("prompt_ids")
        if has_text and has_ids:
            raise InvalidArgument("prompts, prompt_ids: give the prompts as text or as token ids, not both")
        samples = max(request.sampling.n, 1)
        if has_text:
            field = "prompts"
            texts = list(request.prompts)
            check_sizes({"prompts": texts}, len(texts) * samples, self.max_text_chars, self.max_items,
                        "prompts x sampling.n")
            self._check_room(len(texts) * samples)
            encoded = await off_loop(lambda: self.tokenizer(texts, add_special_tokens=False).input_ids)
            prompts = [np.asarray(ids, dtype=np.int64) for ids in encoded]
        elif has_ids:
            field = "prompt_ids"
            prompts = unpack_tokens(request.prompt_ids, "prompt_ids")
            check_sizes({}, len(prompts) * samples, self.max_text_chars, self.max_items, "prompt_ids x sampling.n")
        else:
            raise InvalidArgument("prompts: no prompts given (set prompts or prompt_ids)")
        if not prompts:
            raise InvalidArgument(f"{field}: no prompts given")
        for index, ids in enumerate(prompts):
            if ids.size == 0:
                raise InvalidArgument(f"{field}[{index}]: empty prompt")
            outside = ids[(ids < 0) | (ids >= self.vocab_size)]
            if outside.size:
                raise InvalidArgument(f"{field}[{index}]: token id {outside[0]} is outside [0, {self.vocab_size})")
        return prompts

    def sampling(self, sampling: pb.SamplingParams, longest_prompt: int) -> SamplingParams:
        """Library sampling parameters from the request's; raises InvalidArgument naming the field."""
        new = sampling.max_new_tokens
        if new < 1:
            raise InvalidArgument("sampling.max_new_tokens: must be >= 1")
        if longest_prompt + new > self.max_sequence_length:
            raise InvalidArgument(f"sampling.max_new_tokens: {longest_prompt} prompt tokens + {new} new tokens "
                                  f"exceed max_sequence_length {self.max_sequence_length}")
        if longest_prompt + new > self.max_batch_tokens:
            raise InvalidArgument(f"sampling.max_new_tokens: {longest_prompt} prompt tokens + {new} new tokens "
                                  f"exceed the server's max_batch_tokens {self.max_batch_tokens}")
        if not (math.isfinite(sampling.temperature) and sampling.temperature >= 0):
            raise InvalidArgument(f"sampling.temperature: must be >= 0 (0 is greedy), got {sampling.temperature}")
        if not 0 <= sampling.top_p <= 1:
            raise InvalidArgument(f"sampling.top_p: must be in [0, 1] (0 or 1 is off), got {sampling.top_p}")
        if sampling.n > MAX_SAMPLES_PER_PROMPT:
            raise InvalidArgument(f"sampling.n: at most {MAX_SAMPLES_PER_PROMPT} samples per prompt, got {sampling.n}")
        return SamplingParams(max_new_tokens=new, temperature=sampling.temperature,
                              top_p=sampling.top_p if sampling.top_p > 0 else 1.0, top_k=sampling.top_k)

    async def Generate(self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext) -> pb.GenerateResponse:
        prompts = await self.prompt_ids(request)
        params = self.sampling(request.sampling, max(len(ids) for ids in prompts))
        n = request.sampling.n or 1
        seed = request.sampling.seed if request.sampling.HasField("seed") else None
        items = [GenerationItem(ids.tolist(), params, None if seed is None else (seed, i, j))
                 for i, ids in enumerate(prompts) for j in range(n)]
        results = await self._generate(items)
        completions = [completion for completion, _ in results]
        completion_ids = [c.token_ids for c in completions]
        return pb.GenerateResponse(
            prompt_ids=pack_tokens(prompts), completion_ids=pack_tokens(completion_ids),
            logprobs=pack_floats([c.logprobs for c in completions]),
            texts=await off_loop(lambda: self.tokenizer.batch_decode(completion_ids, skip_special_tokens=True)),
            finish_reasons=[pb.FINISH_REASON_STOP if c.finish_reason == STOP else pb.FINISH_REASON_LENGTH
                            for c in completions],
            # A request larger than one batch may straddle a weight swap: report the oldest version.
            policy_version=min(version for _, version in results), n=n)

    # ---- weights ---------------------------------------------------------------------------------

    def _check_version(self, version: int) -> None:
        if version <= self.version:
            raise FailedPrecondition(f"version: {version} is not above the version serving ({self.version})")

    def _swap(self, tensors: dict[str, torch.Tensor], version: int) -> None:
        """On the model thread, between batches. The version is checked again here: a concurrent
        update may have been installed since the request's first check. The revision is left to
        the next GetInfo (`_hash_weights`)."""
        self._check_version(version)
        install_weights(self.model, tensors)
        self._base = {}  # these are the base weights now
        self.version = version

    def _merge(self, adapter: Adapter, version: int) -> None:
        """On the model thread: W = W_base + scale * B A for every weight the adapter targets (the
        base copied aside the first time a weight is targeted), and weights an earlier adapter
        targeted but this one does not back to their base. Merged in full before any copy."""
        self._check_version(version)
        if not self._base:  # no adapter merged since the last whole weights: they are the base
            self._base_revision = self._hash_weights()[1]
        adapter.check_base(self._base_revision)
        state = self.model.state_dict()
        for name in adapter.pairs:
            if name not in self._base:  # never merged since the last whole weights: still the base
                self._base[name] = state[name].detach().clone()
        weights = {name: self._base[name] for name in self._base if name not in adapter.pairs}
        weights.update({name: lora.merge_weight(self._base[name], a, b, adapter.scale)
                        for name, (a, b) in adapter.pairs.items()})
        install_weights(self.model, weights)
        self.version = version

    def _hash_weights(self) -> tuple[int, str]:
        """On the model thread: (version, revision) of the weights serving, hashed once per version."""
        if self._revision[0] != self.version:
            self._revision = (self.version, weights_revision(self.model))
        return self._revision

    async def _install(self, payload: bytes, version: int, expected_sha256: str | None, *, sha_field: str,
                       payload_field: str, adapter_config: str = "", base_revision: str = "") -> pb.WeightsResponse:
        digest = await asyncio.to_thread(lambda: hashlib.sha256(payload).hexdigest())
        if expected_sha256 and digest != expected_sha256:
            raise InvalidArgument(f"{sha_field}: the payload's sha256 is {digest}, expected {expected_sha256}")
        if adapter_config:
            try:
                rank, scale = lora.scale_of(adapter_config)
            except ValueError as exc:
                raise InvalidArgument(f"header.adapter_config: {exc}") from None
            self._check_adapter_rank(rank)
            try:
                pairs = await asyncio.to_thread(read_adapter, payload, self.model, rank)
            except ValueError as exc:
                raise InvalidArgument(f"{payload_field}: {exc}") from None
            await self._install_adapter(Adapter(pairs, scale, adapter_config, payload, base_revision), version)
        else:
            try:
                tensors = await asyncio.to_thread(read_weights, payload, self.model)
            except ValueError as exc:
                raise InvalidArgument(f"{payload_field}: {exc}") from None
            await self._install_tensors(tensors, version)
        return pb.WeightsResponse(version=version, sha256=digest, bytes_received=len(payload))

    def _check_adapter_rank(self, rank: int) -> None:
        """Refuses an adapter of a rank the engine cannot serve ("hf" merges any)."""

    async def UpdateWeights(self, request_iterator: AsyncIterator[pb.WeightChunk],
                            context: grpc.aio.ServicerContext) -> pb.WeightsResponse:
        header: pb.WeightHeader | None = None
        expected_sha256 = None
        parts: list[bytes] = []
        received = 0
        async for chunk in request_iterator:
            kind = chunk.WhichOneof("kind")
            if header is None:
                if kind != "header":
                    raise InvalidArgument("header: the first message must be the WeightHeader")
                header = chunk.header
                self._check_version(header.version)
                expected_sha256 = check_sha256(header.sha256, "header.sha256")
                if expected_sha256 is None:
                    raise InvalidArgument("header.sha256: required (the payload's sha256, 64 hexadecimal digits)")
                if not 0 < header.total_bytes <= self.max_payload:
                    raise InvalidArgument(f"header.total_bytes: {header.total_bytes} is not in "
                                          f"[1, {self.max_payload}] for this model")
            elif kind != "data":
                raise InvalidArgument("header: sent more than once")
            else:
                data = chunk.data
                parts.append(data)
                received += len(data)
                if received > header.total_bytes:
                    raise InvalidArgument(f"data: more than header.total_bytes ({header.total_bytes}) received")
        if header is None:
            raise InvalidArgument("header: the stream was empty")
        if received != header.total_bytes:
            raise InvalidArgument(f"data: truncated, the stream ended after {received} of "
                                  f"{header.total_bytes} bytes")
        return await self._install(b"".join(parts), header.version, expected_sha256,
                                   sha_field="header.sha256", payload_field="data",
                                   adapter_config=header.adapter_config, base_revision=header.base_revision)

    async def GetInfo(self, request: common_pb2.GetInfoRequest,
                      context: grpc.aio.ServicerContext) -> common_pb2.ModelInfo:
        version, revision = await self._current_revision()
        info = common_pb2.ModelInfo()
        info.CopyFrom(self.info)
        info.version, info.revision = version, revision
        return info


def build(service_config: ServiceConfig, config: Config) -> Service:
    """Loads the policy and its tokenizer from `service_config.model` (on the GPU when there is one)
    into the engine `service_config.engine`."""
    if not service_config.model:
        raise ConfigError("services.policy_inference.model: no policy directory given (--model DIR)")
    if service_config.engine == "vllm":
        from services.policy_inference.vllm_engine import build_vllm  # vllm: only in its own environment

        return build_vllm(service_config, config)
    model = load_policy(service_config.model).to(device())
    servicer = PolicyInferenceServicer(model, load_tokenizer(service_config.model), service_config)
    return Service(name=SERVICE, full_name="rlhf.v1.PolicyInference", servicer=servicer,
                   add_to_server=policy_inference_pb2_grpc.add_PolicyInferenceServicer_to_server,
                   batcher=servicer.batcher)
