"""The data-store through real gRPC: a service process on loopback over a directory, and the core
round trip again over S3 (moto_server)."""

from __future__ import annotations

import hashlib
import json

import grpc
import pytest

from rlhf.clients.base import ServiceError
from rlhf.clients.data_store import DataStoreClient
from rlhf.data.records import RecordKind, dump_jsonl
from rlhf.proto.v1 import data_store_pb2, data_store_pb2_grpc


@pytest.fixture(scope="module")
def file_store(tmp_path_factory, start_service):
    root = tmp_path_factory.mktemp("data-store")
    service = start_service("data-store", "--store", f"file://{root}")
    with DataStoreClient(service.target, timeout=30, retries=0) as client:
        client.wait_ready()
        yield client, root


@pytest.fixture(scope="module")
def client(file_store) -> DataStoreClient:
    return file_store[0]


@pytest.fixture(scope="module")
def s3_client(moto_s3, start_service):
    bucket = moto_s3.make_bucket()
    service = start_service("data-store", "--store", f"s3://{bucket}", env=moto_s3.env)
    with DataStoreClient(service.target, timeout=30, retries=0) as client:
        client.wait_ready()
        yield client


@pytest.fixture(params=["file", "s3"])
def any_client(request) -> DataStoreClient:
    return request.getfixturevalue("client" if request.param == "file" else "s3_client")


@pytest.fixture(scope="module")
def stub(client) -> data_store_pb2_grpc.DataStoreStub:
    """The raw stub, for requests the typed client would never send."""
    return data_store_pb2_grpc.DataStoreStub(client.channel)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_info(client, file_store):
    info = client.info()
    assert info.service == "data-store"
    assert info.model_name == f"file://{file_store[1]}"


def test_object_round_trip(any_client, tmp_path):
    data = bytes(range(256)) * 10_000  # 2.4 MiB: three 1 MiB chunks each way
    info = any_client.put("runs/a/weights.bin", data, metadata={"version": "4"})
    assert (info.key, info.size, info.sha256) == ("runs/a/weights.bin", len(data), _sha(data))
    assert any_client.get("runs/a/weights.bin") == data
    assert any_client.stat("runs/a/weights.bin") == info
    assert any_client.stat("runs/a/weights.bin").metadata == {"version": "4"}

    downloaded = any_client.get_to_file("runs/a/weights.bin", tmp_path / "out" / "weights.bin")
    assert downloaded == info
    assert (tmp_path / "out" / "weights.bin").read_bytes() == data

    source = tmp_path / "report.json"
    source.write_bytes(b'{"ok": true}')
    assert any_client.put("runs/a/report.json", source).sha256 == _sha(b'{"ok": true}')
    assert any_client.put("runs/b/log.txt", (line for line in [b"one\n", b"two\n"])).size == 8

    assert [o.key for o in any_client.list("runs/a/")] == ["runs/a/report.json", "runs/a/weights.bin"]
    assert [o.key for o in any_client.list("runs/")] == ["runs/a/report.json", "runs/a/weights.bin", "runs/b/log.txt"]
    assert any_client.list("runs/a/")[1].sha256 == _sha(data)

    assert any_client.delete("runs/b/log.txt") is True
    assert any_client.delete("runs/b/log.txt") is False
    with pytest.raises(ServiceError) as error:
        any_client.get("runs/b/log.txt")
    assert error.value.code == grpc.StatusCode.NOT_FOUND


def test_records_round_trip(any_client):
    prompts = [{"prompt": f"Write about topic {i}.", "id": i} for i in range(25)]
    assert any_client.put_records("prompts/train", "prompts", prompts) == 25
    first, cursor = any_client.sample_records("prompts/train", 10, seed=7, cursor=0)
    second, cursor = any_client.sample_records("prompts/train", 10, seed=7, cursor=cursor)
    both, cursor_both = any_client.sample_records("prompts/train", 20, seed=7, cursor=0)
    assert first + second == both and cursor == cursor_both == 20
    epoch, _ = any_client.sample_records("prompts/train", 25, seed=7, cursor=0)
    assert sorted(r["id"] for r in epoch) == list(range(25))

    assert any_client.put_records("prompts/train", "prompts", [{"prompt": "one more"}], append=True) == 26
    # The stored set is plain JSONL that the pipelines read back whole.
    stored = [json.loads(line) for line in any_client.get("records/prompts/train.jsonl").splitlines()]
    assert stored == prompts + [{"prompt": "one more"}]


def test_record_kinds_are_checked_before_the_call(client):
    for kind in ("unspecified", "PROMPTS", "texts"):
        with pytest.raises(ValueError, match="expected one of prompts, demonstrations, comparisons, rollouts, text"):
            client.put_records("kinds/bad", kind, [{"prompt": "p"}])
    assert client.put_records("kinds/text", RecordKind.TEXT, [{"text": "t"}]) == 1
    assert client.put_records("kinds/text", "text", [{"text": "u"}], append=True) == 2


def test_comparisons_are_stored_in_normal_form(client):
    client.put_records("cmp", "comparisons", [{"prompt": "p", "chosen": "good", "rejected": "bad"}])
    records, _ = client.sample_records("cmp", 1, seed=0, cursor=0)
    assert records == [{"prompt": "p", "completions": ["good", "bad"], "ranking": [0, 1]}]


def test_put_with_expected_sha256(client):
    client.put("model.bin", b"version one")
    with pytest.raises(ServiceError) as error:
        client.put("model.bin", b"version two, damaged", sha256=_sha(b"version two"))
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "sha256" in error.value.details
    assert client.get("model.bin") == b"version one"
    assert client.put("model.bin", b"version two", sha256=_sha(b"version two")).sha256 == _sha(b"version two")


def test_a_failed_record_upload_stores_nothing(client):
    client.put_records("demos", "demonstrations", [{"prompt": "a", "completion": "b"}])
    bad = dump_jsonl([{"prompt": "x", "completion": "y"}]) + b'{"prompt": "z"}\n'
    with pytest.raises(ServiceError) as error:
        client.put_records("demos", "demonstrations", bad, append=True)
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "line 2" in error.value.details and "'completion'" in error.value.details
    assert client.sample_records("demos", 2, seed=0, cursor=0)[0] == [{"prompt": "a", "completion": "b"}] * 2


def _chunks(*messages) -> list:
    """A Put stream, sent as a fresh iterator by the test."""
    return list(messages)


header = data_store_pb2.ObjectHeader
chunk = data_store_pb2.ObjectChunk
BAD_CALLS = {
    "put without header": ("Put", _chunks(chunk(data=b"orphan bytes")), "header"),
    "put nothing": ("Put", _chunks(), "header"),
    "put two headers": ("Put", _chunks(chunk(header=header(key="k")), chunk(header=header(key="k"))), "header"),
    "put empty key": ("Put", _chunks(chunk(header=header(key="")), chunk(data=b"x")), "key"),
    "put bad key": ("Put", _chunks(chunk(header=header(key="../etc/passwd")), chunk(data=b"x")), "key"),
    "put bad sha256": ("Put", _chunks(chunk(header=header(key="k", sha256="abc")), chunk(data=b"x")), "sha256"),
    "put sha mismatch": ("Put", _chunks(chunk(header=header(key="k", sha256=_sha(b"y"))), chunk(data=b"x")),
                         "sha256"),
    "put size mismatch": ("Put", _chunks(chunk(header=header(key="k", size=5)), chunk(data=b"x")), "size"),
    "put bad metadata": ("Put", _chunks(chunk(header=header(key="k", metadata={"Bad Name": "x"}))), "metadata"),
    "get empty key": ("Get", data_store_pb2.GetRequest(key=""), "key"),
    "stat bad key": ("Stat", data_store_pb2.StatRequest(key="/abs"), "key"),
    "list bad prefix": ("List", data_store_pb2.ListRequest(prefix="../"), "prefix"),
    "delete bad key": ("Delete", data_store_pb2.DeleteRequest(key="a//b"), "key"),
    "records no kind": ("PutRecords", data_store_pb2.PutRecordsRequest(set="s", jsonl=b'{"prompt": "p"}'), "kind"),
    "records bad set": ("PutRecords", data_store_pb2.PutRecordsRequest(
        set="../s", kind=data_store_pb2.RECORD_KIND_PROMPTS, jsonl=b'{"prompt": "p"}'), "set"),
    "records missing field": ("PutRecords", data_store_pb2.PutRecordsRequest(
        set="s", kind=data_store_pb2.RECORD_KIND_PROMPTS, jsonl=b'{"prompt": "p"}\n{"id": 1}\n'),
        "jsonl line 2: field 'prompt' is missing"),
    "records bad json": ("PutRecords", data_store_pb2.PutRecordsRequest(
        set="s", kind=data_store_pb2.RECORD_KIND_PROMPTS, jsonl=b'{"prompt": "p"'), "jsonl line 1: not valid JSON"),
    "records empty": ("PutRecords", data_store_pb2.PutRecordsRequest(
        set="s", kind=data_store_pb2.RECORD_KIND_PROMPTS, jsonl=b""), "jsonl"),
    "sample n=0": ("SampleRecords", data_store_pb2.SampleRecordsRequest(set="s", n=0), "n:"),
}


@pytest.mark.parametrize("name", BAD_CALLS)
def test_bad_requests_are_invalid_argument_and_the_server_keeps_serving(client, stub, name):
    rpc, request, field = BAD_CALLS[name]
    client.put_records("s", "prompts", [{"prompt": "p"}])
    with pytest.raises(grpc.RpcError) as error:
        response = getattr(stub, rpc)(iter(request) if isinstance(request, list) else request, timeout=10)
        if rpc == "Get":
            list(response)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in error.value.details()
    assert client.put("after/" + name.replace(" ", "-").replace("=", ""), b"ok").size == 2
    assert client.sample_records("s", 1, seed=0, cursor=0)[0] == [{"prompt": "p"}]


def test_missing_objects_and_record_sets_are_not_found(client):
    for call in (lambda: client.get("no/such/object"), lambda: client.stat("no/such/object"),
                 lambda: client.sample_records("no/such/object", 1)):
        with pytest.raises(ServiceError) as error:
            call()
        assert error.value.code == grpc.StatusCode.NOT_FOUND
        assert "no/such/object" in error.value.details
    assert client.info().service == "data-store"


def test_read_records_streams_a_whole_set_in_stored_order(client):
    """ReadRecords: every record, in order, across several chunks; a missing set is NOT_FOUND."""
    records = [{"prompt": f"prompt {i} " + "x" * 2000} for i in range(1500)]  # about 3 MB: several chunks
    client.put_records("read/many", RecordKind.PROMPTS, records)
    assert client.read_records("read/many") == records
    assert client.count_records("read/many") == 1500
    with pytest.raises(ServiceError) as error:
        client.read_records("read/missing")
    assert error.value.code == grpc.StatusCode.NOT_FOUND and "no such record set" in error.value.details
