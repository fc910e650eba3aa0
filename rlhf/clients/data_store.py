"""Typed client of the data-store service: objects (streamed both ways, checked end to end by
sha256) and typed record sets."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

import grpc

from rlhf.atomic import write_file
from rlhf.clients.base import BaseClient, ServiceError
from rlhf.data.records import RecordKind, dump_jsonl
from rlhf.proto.packing import pack_record_kind
from rlhf.proto.v1 import data_store_pb2, data_store_pb2_grpc
from rlhf.storage import CHUNK_SIZE, ObjectInfo

_SPOOL_IN_MEMORY = 8 * 1024 * 1024


def _info(message: data_store_pb2.ObjectInfo | data_store_pb2.ObjectHeader) -> ObjectInfo:
    return ObjectInfo(message.key, message.size, message.sha256, dict(message.metadata))


def _read_chunks(f: IO[bytes]) -> Iterator[bytes]:
    while chunk := f.read(CHUNK_SIZE):
        yield chunk


class DataStoreClient(BaseClient):
    SERVICE = "data-store"
    STUB = data_store_pb2_grpc.DataStoreStub

    def put(self, key: str, data: bytes | str | os.PathLike | Iterable[bytes], metadata: dict[str, str] | None = None,
            sha256: str | None = None, timeout: float | None = None) -> ObjectInfo:
        """Stores `data` (bytes, a local file path, or an iterable of byte chunks) under `key`,
        replacing any older object atomically. Bytes and iterables travel with their sha256, so the
        server refuses them if they arrive damaged; an iterable is spooled first so that a retry
        can send it again."""
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data)
            header = data_store_pb2.ObjectHeader(key=key, size=len(data), metadata=metadata or {},
                                                 sha256=sha256 or hashlib.sha256(data).hexdigest())

            def byte_chunks() -> Iterator[bytes]:
                return (data[i:i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE))

            return self._put(header, byte_chunks, timeout)
        if isinstance(data, (str, os.PathLike)):
            path = Path(data)
            header = data_store_pb2.ObjectHeader(key=key, size=path.stat().st_size, metadata=metadata or {},
                                                 sha256=sha256 or "")

            def file_chunks() -> Iterator[bytes]:
                with open(path, "rb") as f:
                    yield from _read_chunks(f)

            return self._put(header, file_chunks, timeout)
        with tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY) as spool:
            digest, size = hashlib.sha256(), 0
            for chunk in data:
                spool.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            header = data_store_pb2.ObjectHeader(key=key, size=size, metadata=metadata or {},
                                                 sha256=sha256 or digest.hexdigest())

            def spooled_chunks() -> Iterator[bytes]:
                spool.seek(0)  # each attempt sends the spool from its start
                yield from _read_chunks(spool)

            return self._put(header, spooled_chunks, timeout)

    def _put(self, header: data_store_pb2.ObjectHeader, chunks: Callable[[], Iterable[bytes]],
             timeout: float | None) -> ObjectInfo:
        def messages() -> Iterator[data_store_pb2.ObjectChunk]:
            yield data_store_pb2.ObjectChunk(header=header)
            for chunk in chunks():
                yield data_store_pb2.ObjectChunk(data=chunk)

        return _info(self._client_stream("Put", messages, timeout, size=header.size))

    def _download(self, key: str, sink: Callable[[bytes], None], timeout: float | None) -> ObjectInfo:
        """Streams an object into `sink`; raises DATA_LOSS if the bytes do not match the header."""
        stream = self._server_stream("Get", data_store_pb2.GetRequest(key=key), timeout)
        header = next(stream).header
        digest, size = hashlib.sha256(), 0
        for message in stream:
            sink(message.data)
            digest.update(message.data)
            size += len(message.data)
        if size != header.size or (header.sha256 and digest.hexdigest() != header.sha256):
            raise ServiceError(self.SERVICE, "Get", self.target, grpc.StatusCode.DATA_LOSS,
                               f"{key!r}: received {size} bytes hashing to {digest.hexdigest()}, but the store "
                               f"holds {header.size} bytes hashing to {header.sha256}")
        return _info(header)

    def get(self, key: str, timeout: float | None = None) -> bytes:
        """The whole object, checked against its stored sha256."""
        parts: list[bytes] = []
        self._download(key, parts.append, timeout)
        return b"".join(parts)

    def get_to_file(self, key: str, path: str | os.PathLike, timeout: float | None = None) -> ObjectInfo:
        """Downloads to `path` atomically: a temp file next to it, checked, fsynced, then renamed."""
        return write_file(path, lambda f: self._download(key, f.write, timeout))

    def stat(self, key: str, timeout: float | None = None) -> ObjectInfo:
        return _info(self._unary("Stat", data_store_pb2.StatRequest(key=key), timeout))

    def list(self, prefix: str = "", timeout: float | None = None) -> list[ObjectInfo]:
        response = self._unary("List", data_store_pb2.ListRequest(prefix=prefix), timeout)
        return [_info(message) for message in response.objects]

    def delete(self, key: str, timeout: float | None = None) -> bool:
        """Removes an object; returns whether there was one."""
        return self._unary("Delete", data_store_pb2.DeleteRequest(key=key), timeout).deleted

    def put_records(self, set: str, kind: RecordKind | str, records: list[dict] | bytes, append: bool = False,
                    timeout: float | None = None) -> int:
        """Stores a record set of `kind` (a RecordKind or its value: "prompts", "demonstrations",
        "comparisons", "rollouts", "text"; anything else is a ValueError before any call); the
        server validates every record first. Returns the set's size afterwards."""
        kind_value = pack_record_kind(kind)
        jsonl = records if isinstance(records, bytes) else dump_jsonl(records)
        request = data_store_pb2.PutRecordsRequest(set=set, kind=kind_value, jsonl=jsonl, append=append)
        return self._unary("PutRecords", request, timeout).count

    def read_records(self, set: str, timeout: float | None = None) -> list[dict]:
        """Every record of a set, in stored order; ServiceError NOT_FOUND if there is no such set."""
        lines = b"".join(chunk.jsonl for chunk in
                         self._server_stream("ReadRecords", data_store_pb2.ReadRecordsRequest(set=set), timeout))
        return [json.loads(line) for line in lines.splitlines() if line]

    def count_records(self, set: str, timeout: float | None = None) -> int:
        """How many records a set holds (the first chunk of ReadRecords); ServiceError NOT_FOUND if
        there is no such set."""
        stream = self._server_stream("ReadRecords", data_store_pb2.ReadRecordsRequest(set=set), timeout)
        first = next(stream)
        stream.close()  # the rest of the stream is not needed: dropping it cancels the call
        return first.count

    def sample_records(self, set: str, n: int, seed: int = 0, cursor: int = 0,
                       timeout: float | None = None) -> tuple[list[dict], int]:
        """n records at `cursor` of the set's seeded stream of shuffled epochs, and the next cursor."""
        request = data_store_pb2.SampleRecordsRequest(set=set, n=n, seed=seed, cursor=cursor)
        response = self._unary("SampleRecords", request, timeout)
        return [json.loads(record) for record in response.records], response.next_cursor
