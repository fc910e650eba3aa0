"""Typed client of the policy-inference service: sampling, weight pushes, and what it serves."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import numpy as np
import torch
from safetensors.torch import save

from rlhf.clients.base import BaseClient
from rlhf.proto.packing import pack_tokens, unpack_floats, unpack_tokens
from rlhf.proto.v1 import common_pb2, policy_inference_pb2 as pb, policy_inference_pb2_grpc

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


def safetensors_bytes(state_dict: Mapping[str, torch.Tensor]) -> bytes:
    """Serializes weights for a push. Tensors sharing memory (tied embeddings) are stored once, under
    their first name; the server accepts a tied weight under any of its names."""
    seen: set[tuple] = set()
    unique = {}
    for name, tensor in state_dict.items():
        key = (tensor.data_ptr(), tensor.dtype, tuple(tensor.shape))
        if key not in seen:
            seen.add(key)
            unique[name] = tensor.detach().cpu().contiguous()
    return save(unique)


class PolicyInferenceClient(BaseClient):
    SERVICE = "policy-inference"
    STUB = policy_inference_pb2_grpc.PolicyInferenceStub

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
        response = self._unary("Generate", request, timeout)
        return Generation(
            prompt_ids=unpack_tokens(response.prompt_ids, "prompt_ids"),
            completion_ids=unpack_tokens(response.completion_ids, "completion_ids"),
            logprobs=unpack_floats(response.logprobs, "logprobs"),
            texts=list(response.texts), finish_reasons=[_FINISH[r] for r in response.finish_reasons],
            policy_version=response.policy_version, n=response.n)

    def update_weights(self, weights: Mapping[str, torch.Tensor] | bytes, version: int, *,
                       chunk_size: int = 1 << 20, timeout: float | None = None) -> int:
        """Streams new weights (a state dict, or safetensors bytes) with their sha256; the server
        checks size, digest, names and shapes before it swaps them in. `version` must be above the
        one serving. Returns the version now serving."""
        payload = weights if isinstance(weights, bytes) else safetensors_bytes(weights)
        header = pb.WeightHeader(version=version, sha256=hashlib.sha256(payload).hexdigest(),
                                 total_bytes=len(payload))

        def chunks() -> Iterator[pb.WeightChunk]:
            yield pb.WeightChunk(header=header)
            view = memoryview(payload)
            for start in range(0, len(payload), chunk_size):
                yield pb.WeightChunk(data=bytes(view[start:start + chunk_size]))

        return self._client_stream("UpdateWeights", chunks, timeout).version

    def load_weights(self, uri: str, version: int, sha256: str = "", timeout: float | None = None) -> int:
        """Has the server read a safetensors file from the store (file://... or s3://...), checked
        against `sha256` when given. Returns the version now serving."""
        request = pb.LoadWeightsRequest(uri=uri, version=version, sha256=sha256)
        return self._unary("LoadWeights", request, timeout).version

    def info(self, timeout: float | None = None) -> common_pb2.ModelInfo:
        return self._unary("GetInfo", common_pb2.GetInfoRequest(), timeout)
