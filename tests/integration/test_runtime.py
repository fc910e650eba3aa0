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
