"""Typed client of the policy-inference service: sampling, weight pushes, and what it serves."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import grpc
import numpy as np
import torch
from safetensors.torch import save

from rlhf.clients.base import BaseClient, ServiceError, log
from rlhf.models.weights import untied_weights
from rlhf.proto.packing import pack_tokens, unpack_floats, unpack_tokens
from rlhf.proto.v1 import policy_inference_pb2 as pb, policy_inference_pb2_grpc

_FINISH = {pb.FINISH_REASON_STOP: "stop", pb.FINISH_REASON_LENGTH: "length"}


@dataclass
class Generation:
    """Completion j of prompt i is entry i * n + j of the per-completion lists."""

    prompt_ids: list[np.ndarray]      # one per prompt, as the server tokenized it
    completion_ids: list[np.ndarray]  # int32, EOS included when finish_reason is "stop"
    logprobs: list[np.ndarray]        # float32 log pi(token | prefix), temperature 1, no filtering
    texts: list[str]
    finish_reasons: list[str]         # "stop" or "length"
    policy_version: int
    n: int


def _dtype(dtype: str | torch.dtype) -> torch.dtype:
    """torch.bfloat16 or "bfloat16" -> torch.bfloat16; a floating-point dtype or ValueError."""
    found = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype
    if not isinstance(found, torch.dtype) or not found.is_floating_point:
        raise ValueError(f"dtype {dtype!r}: expected a floating-point torch dtype, e.g. 'bfloat16' or 'float32'")
    return found


def safetensors_bytes(state_dict: Mapping[str, torch.Tensor], dtype: str | torch.dtype | None = None) -> bytes:
    """Serializes weights for a push. Tensors sharing memory (tied embeddings) are stored once, under
    their first name (`rlhf.models.weights`, which the server groups by too); the server accepts a
    tied weight under any of its names. With `dtype`, floating-point weights are cast to it (once
    per tied group, before they leave the device); the server casts them to its own dtype."""
    weights = untied_weights(state_dict, None if dtype is None else _dtype(dtype))
    return save({name: tensor.cpu().contiguous() for name, tensor in weights.items()})


class PolicyInferenceClient(BaseClient):
    SERVICE = "policy-inference"
    STUB = policy_inference_pb2_grpc.PolicyInferenceStub

    _installed: int | None = None
    """The version this client's last push installed: the next push without a version is one above
    it, with no GetInfo (which makes the server hash the new weights, about a second per version)."""

    def generate(self, prompts: Sequence[str] | None = None, prompt_ids: Sequence[Sequence[int]] | None = None, *,
                 max_new_tokens: int, temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0, n: int = 1,
                 seed: int | None = None, timeout: float | None = None) -> Generation:
        """Samples `n` completions of each prompt, given as text (tokenized by the server as is, no
        chat template) or as token ids; exactly one of the two. temperature 0 is greedy. With a seed,
        the same request gives the same samples."""
        sampling = pb.SamplingParams(temperature=temperature, top_p=top_p, top_k=top_k,
                                     max_new_tokens=max_new_tokens, n=n, seed=seed)
        request = pb.GenerateRequest(prompts=list(prompts or []), sampling=sampling)
        if prompt_ids is not None:
            request.prompt_ids.CopyFrom(pack_tokens(prompt_ids))  # present even when empty
        count = len(prompt_ids) if prompt_ids is not None else len(request.prompts)
        work_s = self.config.generate_s_per_token * count * max(n, 1) * max_new_tokens
        response = self._unary("Generate", request, timeout, work_s=work_s)
        return Generation(
            prompt_ids=unpack_tokens(response.prompt_ids, "prompt_ids"),
            completion_ids=unpack_tokens(response.completion_ids, "completion_ids"),
            logprobs=unpack_floats(response.logprobs, "logprobs"),
            texts=list(response.texts), finish_reasons=[_FINISH[r] for r in response.finish_reasons],
            policy_version=response.policy_version, n=response.n)

    @property
    def installed(self) -> int | None:
        """The version this client's last push installed; None before its first push."""
        return self._installed

    def generate_pinned(self, weights: Callable[[], Mapping[str, torch.Tensor] | bytes],
                        dtype: str | torch.dtype | None = None, *, repushes: int = 2, **kwargs) -> Generation:
        """`generate(**kwargs)` from exactly the weights this client installed last. A service that
        restarted (it serves its initial weights, version 0) or took another caller's push answers
        another `policy_version`: then `weights()` is pushed again and the prompts are sampled
        again, at most `repushes` times, so no caller uses samples of weights it did not push."""
        for attempt in range(repushes + 1):
            generation = self.generate(**kwargs)
            if generation.policy_version == self._installed:
                return generation
            if attempt == repushes:
                break
            log.warning("%s at %s answered from weights version %d, not %s (restarted, or another caller "
                        "pushed); pushing ours again and sampling again", self.SERVICE, self.target,
                        generation.policy_version, self._installed)
            self.update_weights(weights(), dtype=dtype)
        raise ServiceError(self.SERVICE, "Generate", self.target, grpc.StatusCode.FAILED_PRECONDITION,
                           f"answered from weights version {generation.policy_version}, not the version "
                           f"{self._installed} pushed, {repushes} times in a row")

    def update_weights(self, weights: Mapping[str, torch.Tensor] | bytes | os.PathLike, version: int | None = None,
                       dtype: str | torch.dtype | None = None, *, adapter_config: str = "",
                       base_revision: str = "", chunk_size: int = 1 << 20, timeout: float | None = None) -> int:
        """Streams new weights (a state dict, safetensors bytes, or a safetensors file, read in chunks:
        a trainer gathering a sharded model writes one) with their sha256; the server
        checks size, digest, names and shapes before it swaps them in. Returns the version now
        serving.

        `version` must be above the one serving. None means one above it: above this client's
        last push, or, before the first push or when another caller has pushed since (the server
        answers FAILED_PRECONDITION, having installed nothing), above `info().version`.
        `dtype` ("bfloat16", torch.float32, ...) casts a state dict's floating-point weights before
        sending. With `adapter_config` (peft's adapter_config.json, `rlhf.models.lora.adapter_config`)
        the weights are a LoRA adapter in peft's names, which the server applies to its base weights,
        refusing it (FAILED_PRECONDITION naming header.base_revision) when `base_revision` is given
        and its base has another revision.
        Retried only if the server could not be reached: a push whose deadline passed may
        still have been installed (see RETRYABLE_NOT_IDEMPOTENT)."""
        if not isinstance(weights, Mapping) and dtype is not None:
            raise ValueError("dtype: weights given as safetensors bytes or a file are sent as they are")
        payload = safetensors_bytes(weights, dtype) if isinstance(weights, Mapping) else weights
        if isinstance(payload, bytes):
            digest, total = hashlib.sha256(payload).hexdigest(), len(payload)
        else:
            with open(payload, "rb") as f:
                digest, total = hashlib.file_digest(f, "sha256").hexdigest(), Path(payload).stat().st_size

        def data() -> Iterator[bytes]:
            if isinstance(payload, bytes):
                view = memoryview(payload)
                for start in range(0, total, chunk_size):
                    yield bytes(view[start:start + chunk_size])
                return
            with open(payload, "rb") as f:
                while chunk := f.read(chunk_size):
                    yield chunk

        def push(version: int) -> int:
            header = pb.WeightHeader(version=version, sha256=digest, total_bytes=total, adapter_config=adapter_config,
                                     base_revision=base_revision)

            def chunks() -> Iterator[pb.WeightChunk]:
                yield pb.WeightChunk(header=header)
                for chunk in data():
                    yield pb.WeightChunk(data=chunk)

            self._installed = self._client_stream("UpdateWeights", chunks, timeout, idempotent=False,
                                                 size=total).version
            return self._installed

        if version is not None:
            return push(version)
        if self._installed is not None:
            try:
                return push(self._installed + 1)
            except ServiceError as exc:
                if exc.code != grpc.StatusCode.FAILED_PRECONDITION:
                    raise
        return push(self.info(timeout).version + 1)
