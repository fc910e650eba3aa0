"""What every service gets from services/runtime.py, checked on a real data-store process: health,
reflection, Prometheus metrics, the message-size limit, and status codes in the metrics."""

from __future__ import annotations

import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from rlhf.clients.base import ServiceError
from rlhf.clients.data_store import DataStoreClient
from rlhf.config import ServiceConfig
from rlhf.data.records import RecordError
from rlhf.proto.packing import PackingError
from rlhf.storage import StoreError
from services.runtime import Batcher, FailedPrecondition, InvalidArgument, Overloaded, status_of


@pytest.fixture(scope="module")
def server(start_service, tmp_path_factory):
    return start_service("data-store", "--store", f"file://{tmp_path_factory.mktemp('store')}",
                         "--max-message-mb", "1")


def test_health_reports_serving_for_the_server_and_the_service(server):
    with grpc.insecure_channel(server.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", "rlhf.v1.DataStore"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as error:
            stub.Check(health_pb2.HealthCheckRequest(service="rlhf.v1.Nope"), timeout=10)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_service(server):
    with grpc.insecure_channel(server.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (reply,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
        names = {s.name for s in reply.list_services_response.service}
    assert {"rlhf.v1.DataStore", "grpc.health.v1.Health"} <= names


def test_metrics_count_requests_by_code_and_time_them(server):
    with DataStoreClient(server.target) as client:
        client.put("a/b.txt", b"hello")
        assert client.get("a/b.txt") == b"hello"
        with pytest.raises(ServiceError, match="INVALID_ARGUMENT"):
            client.stat("../escape")
    text = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
    assert 'rlhf_rpc_requests_total{code="OK",method="Put",service="data-store"} 1.0' in text
    assert 'rlhf_rpc_requests_total{code="INVALID_ARGUMENT",method="Stat",service="data-store"} 1.0' in text
    assert 'rlhf_rpc_latency_seconds_count{method="Get",service="data-store"} 1.0' in text
    assert 'rlhf_rpc_in_flight{method="Get",service="data-store"} 0.0' in text


def test_messages_over_the_limit_are_refused_and_the_server_keeps_serving(server):
    with DataStoreClient(server.target, max_message_mb=8) as client:
        with pytest.raises(ServiceError, match="RESOURCE_EXHAUSTED"):
            client.put_records("big", "text", [{"text": "x" * (2 << 20)}])
        assert client.put_records("small", "text", [{"text": "fits"}]) == 1


@pytest.mark.parametrize("exc, code", [
    (InvalidArgument("prompts[0]: empty prompt"), grpc.StatusCode.INVALID_ARGUMENT),
    (PackingError("prompt_ids: 3 bytes is not a whole number of 4-byte values"), grpc.StatusCode.INVALID_ARGUMENT),
    (StoreError("key '/abs': must be relative"), grpc.StatusCode.INVALID_ARGUMENT),
    (RecordError("jsonl line 2: field 'prompt' is missing"), grpc.StatusCode.INVALID_ARGUMENT),
    (FailedPrecondition("version: 1 is not above the version serving (1)"), grpc.StatusCode.FAILED_PRECONDITION),
    (Overloaded("queue full"), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (FileNotFoundError("no/such/object"), grpc.StatusCode.NOT_FOUND),
])
def test_library_exceptions_map_to_status_codes_with_their_message(exc, code):
    assert status_of(exc) == (code, str(exc))


def test_other_exceptions_are_bugs():
    assert status_of(ValueError("a bug")) is None
    assert status_of(KeyError("a bug")) is None


def test_batcher_from_config_takes_the_batching_fields():
    config = ServiceConfig(max_batch_size=3, max_batch_tokens=100, batch_wait_ms=7.0, max_queue=9)
    batcher = Batcher.from_config("svc", lambda items: items, config, cost=len)
    try:
        assert (batcher.max_batch_size, batcher.max_batch_tokens, batcher.max_wait, batcher.max_queue) == (3, 100, 0.007, 9)
        assert batcher.cost("abcd") == 4
    finally:
        batcher.close()
