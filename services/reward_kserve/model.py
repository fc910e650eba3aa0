"""The reward model as a `kserve.Model`: Open Inference Protocol v2 inputs `prompt` and
`completion` (BYTES, one element per pair), output `score` (FP32, one per pair).

It checks sizes, validates and tokenizes through the same `admitted_sequences` as
rlhf.v1.RewardScoring and queues into the same Batcher, so both paths give identical scores and
refuse the same requests.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from typing import Any

import orjson
from kserve.constants.constants import INFERENCE_CONTENT_LENGTH_HEADER
from kserve.errors import InferenceError
from kserve.model import Model
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.infer_type import (InferInput, InferOutput, InferRequest, InferResponse,
                                        deserialize_bytes_tensor)

from services.reward_kserve.versions import RewardVersions
from services.reward import admitted_sequences
from services.runtime import TOKENS, Batcher, InvalidArgument

INPUTS = ("prompt", "completion")
OUTPUT = "score"

# kserve 0.21 does not hand the version of /v2/models/{name}/versions/{version}/infer to the
# model; the REST endpoint sets it here for the request's task (gRPC carries it in the request).
PINNED_VERSION: ContextVar[str | None] = ContextVar("PINNED_VERSION", default=None)


def read_texts(request: InferRequest, name: str) -> list[str]:
    """The strings of BYTES input `name`, flattened; InvalidArgument names the input and index."""
    tensors = {tensor.name: tensor for tensor in request.inputs}
    unknown = sorted(set(tensors) - set(INPUTS))
    if unknown:
        raise InvalidArgument(f"{unknown[0]}: unknown input; send BYTES tensors 'prompt' and 'completion'")
    tensor = tensors.get(name)
    if tensor is None:
        raise InvalidArgument(f"{name}: missing input; send BYTES tensors 'prompt' and 'completion'")
    if tensor.datatype != "BYTES":
        raise InvalidArgument(f"{name}: datatype {tensor.datatype}, expected BYTES")
    try:
        values = tensor.as_numpy().reshape(-1).tolist()
    except Exception as exc:  # a shape that does not fit the data, malformed raw bytes
        raise InvalidArgument(f"{name}: shape {list(tensor.shape)} does not fit its data: {exc}") from None
    texts = []
    for index, value in enumerate(values):
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidArgument(f"{name}[{index}]: not valid UTF-8 (byte {exc.start}: {exc.reason})") from None
        if not isinstance(value, str):
            raise InvalidArgument(f"{name}[{index}]: expected a string, got {type(value).__name__}")
        texts.append(value)
    return texts


def binary_tensors(body: bytes, json_length: int) -> InferRequest:
    """The tensors of a REST binary-extension body, BYTES elements left as bytes (kserve's own
    parse decodes them to str, which is what failed)."""
    header = orjson.loads(body[:json_length])
    start, tensors = json_length, []
    for spec in header.get("inputs", []):
        data = spec.get("data")
        size = (spec.get("parameters") or {}).get("binary_data_size")
        if data is None and size is not None:
            raw = body[start:start + size]
            start += size
            if spec["datatype"].upper() == "BYTES":  # read_texts refuses any other type by name first
                try:  # kserve's public decoder of length-prefixed BYTES elements
                    data = deserialize_bytes_tensor(raw).tolist()
                except Exception:  # malformed: left empty, which read_texts refuses naming the input
                    data = None
        tensors.append(InferInput(spec["name"], spec["shape"], spec["datatype"], data=data))
    return InferRequest("", tensors)


class RewardDataPlane(DataPlane):
    """kserve's DataPlane, except that a REST binary-extension body whose BYTES are not UTF-8 gets
    a 400 naming the input and element: kserve decodes them to str while parsing and answers 500
    with neither."""

    def decode_inference_request(self, body, headers, model_name: str) -> InferRequest:
        try:
            return super().decode_inference_request(body, headers, model_name)
        except InferenceError as exc:
            try:
                tensors = binary_tensors(body, int(headers[INFERENCE_CONTENT_LENGTH_HEADER]))
            except Exception:  # not even that much parses: kserve's own message has to do
                tensors = None
            if tensors is not None:
                for name in INPUTS:
                    read_texts(tensors, name)  # raises naming the input and index
            raise InvalidArgument(f"inputs: {exc}") from None


class RewardKServeModel(Model):
    """One OIP model name; its versions are the registry's."""

    def __init__(self, name: str, versions: RewardVersions, batcher: Batcher, config: Any, service: str):
        super().__init__(name)
        self.versions = versions
        self.batcher = batcher
        self.config = config
        self.service = service
        self.ready = True

    def get_input_types(self) -> list[dict]:
        return [{"name": name, "datatype": "BYTES", "shape": [-1]} for name in INPUTS]

    def get_output_types(self) -> list[dict]:
        return [{"name": OUTPUT, "datatype": "FP32", "shape": [-1]}]

    async def predict(self, payload: Any, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> InferResponse:
        if not isinstance(payload, InferRequest):  # the v1 REST protocol hands a dict
            raise InvalidArgument("send an Open Inference Protocol v2 request (/v2/models/NAME/infer) with BYTES "
                                  "inputs 'prompt' and 'completion'")
        version = self.versions.get(payload.model_version or PINNED_VERSION.get())
        prompts, completions = read_texts(payload, INPUTS[0]), read_texts(payload, INPUTS[1])
        sequences = await admitted_sequences(version, self.batcher, self.config, prompts, completions, INPUTS)
        TOKENS.labels(self.service, "in").inc(sum(len(ids) for ids in sequences))
        scores = await self.batcher.submit([(version, ids) for ids in sequences])
        # A list (not an array) lets kserve answer plain fp32_contents / JSON unless the caller sent
        # raw binary inputs, whose callers (Triton's clients) expect raw outputs back.
        output = InferOutput(OUTPUT, [len(scores)], "FP32", data=scores)
        return InferResponse(response_id=payload.id or str(uuid.uuid4()), model_name=self.name,
                             model_version=version.name, infer_outputs=[output],
                             use_binary_outputs=payload.use_binary_outputs)
