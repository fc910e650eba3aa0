"""Hostile input to the real services: each request is refused with the expected status, naming the
field and never a server path, within a time bound, and the service answers health right after.
The bound is generous (the refusals take milliseconds, see bench/faults.py): a busy CI machine
must not fail it, an event loop blocked by tokenizing (13-27 s before) must."""

from __future__ import annotations

import json
import re
import threading
import time

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rlhf.proto.v1 import data_store_pb2, policy_inference_pb2 as pi_pb2, reward_scoring_pb2
from tests.integration.stack import start_together

BOUND = 2.0
JSON = {"content-type": "application/json"}
TEN_MB = "x" * 10_000_000


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile-store")


@pytest.fixture(scope="module")
def services(start_service, tiny_models, store_dir):
    policy, reward = str(tiny_models["policy"]), str(tiny_models["reward"])
    return start_together(start_service, {"policy-inference": ["--model", policy], "reward-scoring": ["--model", reward],
                                          "reference-kl": ["--model", policy],
                                          "data-store": ["--store", f"file://{store_dir}"]})


def healthy(target: str) -> bool:
    with grpc.insecure_channel(target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=BOUND)
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def raw_call(target: str, method: str, payload: bytes, *, stream: bool = False) -> tuple[grpc.StatusCode, str, float]:
    """Sends bytes as they are (no protobuf encoding); returns (code, details, seconds)."""
    with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        start = time.perf_counter()
        try:
            if stream:
                channel.stream_unary(method)(iter([payload]), timeout=30)
            else:
                channel.unary_unary(method)(payload, timeout=30)
        except grpc.RpcError as exc:
            return exc.code(), exc.details(), time.perf_counter() - start
    raise AssertionError(f"{method}: {payload[:40]!r} was accepted")


def refused(services, name: str, method: str, request, expected_code, field: str, *, stream: bool = False,
            store_dir=None) -> None:
    payload = request if isinstance(request, bytes) else request.SerializeToString()
    code, details, seconds = raw_call(services[name].target, method, payload, stream=stream)
    assert (code, field in details) == (expected_code, True), details[:500]
    assert seconds < BOUND, f"{name} {method}: refused after {seconds:.2f}s"
    assert store_dir is None or str(store_dir) not in details, details
    assert healthy(services[name].target)


@pytest.mark.parametrize("name, method, request_, field", [
    ("policy-inference", "/rlhf.v1.PolicyInference/Generate",
     pi_pb2.GenerateRequest(prompts=[TEN_MB], sampling=pi_pb2.SamplingParams(max_new_tokens=1)), "prompts[0]: 10000000"),
    ("policy-inference", "/rlhf.v1.PolicyInference/Generate",
     pi_pb2.GenerateRequest(prompts=["Hi"] * 100_000, sampling=pi_pb2.SamplingParams(max_new_tokens=1)),
     "prompts x sampling.n: 100000 items"),
    ("reward-scoring", "/rlhf.v1.RewardScoring/Score",
     reward_scoring_pb2.ScoreRequest(prompts=[TEN_MB], completions=["Hi"]), "prompts[0]: 10000000"),
    ("reward-scoring", "/rlhf.v1.RewardScoring/Score",
     reward_scoring_pb2.ScoreRequest(prompts=["a"] * 100_000, completions=["b"] * 100_000), "prompts: 100000 items"),
    ("data-store", "/rlhf.v1.DataStore/SampleRecords",
     data_store_pb2.SampleRecordsRequest(set="prompts", n=1, cursor=2**64 - 1), "cursor"),
    ("data-store", "/rlhf.v1.DataStore/SampleRecords",
     data_store_pb2.SampleRecordsRequest(set="prompts", n=10**9), "n: 1000000000"),
])
def test_oversized_requests_are_refused_before_any_work(services, name, method, request_, field):
    refused(services, name, method, request_, grpc.StatusCode.INVALID_ARGUMENT, field)


@pytest.mark.parametrize("name, method, stream", [
    ("policy-inference", "/rlhf.v1.PolicyInference/Generate", False),
    ("policy-inference", "/rlhf.v1.PolicyInference/UpdateWeights", True),
    ("reward-scoring", "/rlhf.v1.RewardScoring/Score", False),
    ("reference-kl", "/rlhf.v1.ReferenceKL/LogProbs", False),
    ("data-store", "/rlhf.v1.DataStore/Put", True),
])
def test_malformed_protobuf_is_invalid_argument(services, name, method, stream):
    refused(services, name, method, b"\xff\xff\xff\xff", grpc.StatusCode.INVALID_ARGUMENT, "request: not a valid",
            stream=stream)


def test_store_requests_never_answer_internal_or_show_the_store_path(services, store_dir):
    long_key = "k" * 1024
    refused(services, "data-store", "/rlhf.v1.DataStore/Get", data_store_pb2.GetRequest(key=long_key),
            grpc.StatusCode.INVALID_ARGUMENT, "segment", store_dir=store_dir)
    refused(services, "data-store", "/rlhf.v1.DataStore/Stat", data_store_pb2.StatRequest(key="a/" + "b" * 300),
            grpc.StatusCode.INVALID_ARGUMENT, "segment", store_dir=store_dir)
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    refused(services, "data-store", "/rlhf.v1.DataStore/PutRecords",
            data_store_pb2.PutRecordsRequest(set="deep", kind=data_store_pb2.RECORD_KIND_PROMPTS, jsonl=deep),
            grpc.StatusCode.INVALID_ARGUMENT, "line 1: nested too deeply", store_dir=store_dir)


def test_health_answers_while_a_heavy_request_is_tokenized(services):
    """300 completions of 30,000 characters (9 MB, within every size limit) take seconds to tokenize;
    on a worker thread, health checks keep being answered meanwhile."""
    target = services["reward-scoring"].target
    outcome: dict[str, object] = {}

    def heavy() -> None:
        code, details, seconds = raw_call(target, "/rlhf.v1.RewardScoring/Score", reward_scoring_pb2.ScoreRequest(
            prompts=["Say hi."] * 300, completions=["word " * 6000] * 300).SerializeToString())
        outcome.update(code=code, details=details, seconds=seconds)

    caller = threading.Thread(target=heavy)
    caller.start()
    probes = []
    while caller.is_alive():
        start = time.perf_counter()
        assert healthy(target)
        probes.append(time.perf_counter() - start)
        time.sleep(0.05)
    caller.join()
    # Too long for the tiny model (1,024 tokens): refused, but only after tokenizing every pair.
    assert outcome["code"] == grpc.StatusCode.INVALID_ARGUMENT and "completions[0]" in outcome["details"]
    assert len(probes) >= 3, f"the heavy call took {outcome['seconds']:.2f}s, too short to probe health during it"
    assert sorted(probes)[len(probes) // 2] < 0.25 and max(probes) < BOUND, probes


# ---- reward-kserve REST ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kserve(start_service, tiny_models):
    proc = start_service("reward-kserve", "--model", str(tiny_models["reward"]), "--set", "reward_serving.max_body_mb=1")
    http = re.search(r" http (\S+:\d+)", proc.output).group(1)
    yield f"http://{http}", proc.target
    proc.terminate()


def test_rest_bodies_over_the_limit_are_refused_413_unread(kserve):
    http, target = kserve
    body = json.dumps({"inputs": [{"name": "prompt", "shape": [1], "datatype": "BYTES", "data": ["x" * (2 << 20)]},
                                  {"name": "completion", "shape": [1], "datatype": "BYTES", "data": ["y"]}]})
    with httpx.Client(base_url=http, timeout=30, headers=JSON) as client:
        for headers, content in (({}, body), ({"transfer-encoding": "chunked"}, iter([body.encode()]))):
            start = time.perf_counter()
            reply = client.post("/v2/models/reward/infer", content=content, headers=headers)
            seconds = time.perf_counter() - start
            assert reply.status_code == 413 and len(reply.content) < 200, reply.text[:300]
            assert seconds < BOUND
        assert client.get("/v2/health/ready").status_code == 200
    assert healthy(target)


def test_rest_errors_never_echo_the_input(kserve):
    """A body of the wrong shape, just under the limit: 40k elements each failing validation. The
    error names where it failed, not what was sent (kserve answered 61 MB for 1.2 MB)."""
    http, target = kserve
    body = json.dumps({"inputs": [{"name": "prompt", "shape": [f"secret-{i}" for i in range(40_000)],
                                   "datatype": "BYTES", "data": ["Say hi."]}]})
    assert len(body) < 1 << 20
    with httpx.Client(base_url=http, timeout=30, headers=JSON) as client:
        start = time.perf_counter()
        reply = client.post("/v2/models/reward/infer", content=body)
        seconds = time.perf_counter() - start
        assert reply.status_code == 400 and len(reply.content) < 1000 and "secret" not in reply.text, reply.text[:300]
        assert "inputs/0/shape/0" in reply.text, reply.text
        assert seconds < 5 * BOUND  # parsing 1 MB of JSON is the work here, not tokenizing
        assert client.get("/v2/health/ready").status_code == 200
    assert healthy(target)
