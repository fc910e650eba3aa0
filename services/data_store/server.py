"""DataStore over gRPC: objects and typed record sets, a thin adapter over `rlhf.storage` and
`rlhf.data.records`. Store calls block (disk, S3), so they run on worker threads, never on the
event loop. What the store refuses (StoreError, RecordError, naming the field) the runtime answers
INVALID_ARGUMENT."""

from __future__ import annotations

import asyncio
import json
from typing import AsyncIterator, TypeVar

import grpc

from rlhf.config import Config, ConfigError, ServiceConfig
from rlhf.data.records import RecordSets, dump_jsonl
from rlhf.proto.packing import pack_record_kind, unpack_record_kind
from rlhf.proto.v1 import common_pb2, data_store_pb2, data_store_pb2_grpc
from rlhf.storage import CHUNK_SIZE, ObjectInfo, ObjectStore, S3Settings, StoreError, open_store
from rlhf.storage.file import FileStore
from services.runtime import InvalidArgument, Service

SERVICE = "data-store"
T = TypeVar("T")
MAX_CURSOR = 2**62
"""Cursors are positions in a stream of epochs; beyond this one the next cursor would not fit the
uint64 field it is answered in."""


def _info_message(info: ObjectInfo, message: type[T] = data_store_pb2.ObjectInfo) -> T:
    """An ObjectInfo, or an ObjectHeader (the first message of Get), with the fields of `info`."""
    return message(key=info.key, size=info.size, sha256=info.sha256, metadata=info.metadata)


class DataStoreServicer(data_store_pb2_grpc.DataStoreServicer):
    def __init__(self, store: ObjectStore, max_items: int = 1024):
        self.store = store
        self.max_items = max_items
        self.records = RecordSets(store)
        self.info = common_pb2.ModelInfo(service=SERVICE, model_name=store.uri)

    async def Put(self, request_iterator: AsyncIterator[data_store_pb2.ObjectChunk],
                  context: grpc.aio.ServicerContext) -> data_store_pb2.ObjectInfo:
        messages = aiter(request_iterator)
        first = await anext(messages, None)
        if first is None or first.WhichOneof("kind") != "header":
            raise InvalidArgument("header: the first message of Put must be an ObjectHeader (key, metadata, sha256)")
        header = first.header
        writer = await asyncio.to_thread(self.store.writer, header.key, metadata=dict(header.metadata),
                                         sha256=header.sha256 or None)
        with writer:  # leaving without commit() (error, cancel) discards the upload
            async for message in messages:
                if message.WhichOneof("kind") != "data":
                    raise InvalidArgument("header: a second header; Put takes one header, then data chunks")
                await asyncio.to_thread(writer.write, message.data)
            if header.size and writer.size != header.size:
                raise InvalidArgument(f"size: the header announced {header.size} bytes but {writer.size} arrived")
            info = await asyncio.to_thread(writer.commit)
        return _info_message(info)

    async def Get(self, request: data_store_pb2.GetRequest,
                  context: grpc.aio.ServicerContext) -> AsyncIterator[data_store_pb2.ObjectChunk]:
        reader = await asyncio.to_thread(self.store.get, request.key, CHUNK_SIZE)
        with reader:
            yield data_store_pb2.ObjectChunk(header=_info_message(reader.info, data_store_pb2.ObjectHeader))
            chunks = iter(reader)
            while chunk := await asyncio.to_thread(next, chunks, b""):
                yield data_store_pb2.ObjectChunk(data=chunk)

    async def Stat(self, request: data_store_pb2.StatRequest,
                   context: grpc.aio.ServicerContext) -> data_store_pb2.ObjectInfo:
        return _info_message(await asyncio.to_thread(self.store.stat, request.key))

    async def List(self, request: data_store_pb2.ListRequest,
                   context: grpc.aio.ServicerContext) -> data_store_pb2.ListResponse:
        infos = await asyncio.to_thread(self.store.list, request.prefix)
        return data_store_pb2.ListResponse(objects=[_info_message(info) for info in infos])

    async def Delete(self, request: data_store_pb2.DeleteRequest,
                     context: grpc.aio.ServicerContext) -> data_store_pb2.DeleteResponse:
        return data_store_pb2.DeleteResponse(deleted=await asyncio.to_thread(self.store.delete, request.key))

    async def PutRecords(self, request: data_store_pb2.PutRecordsRequest,
                         context: grpc.aio.ServicerContext) -> data_store_pb2.PutRecordsResponse:
        kind = unpack_record_kind(request.kind)
        count = await asyncio.to_thread(self.records.put, request.set, kind, request.jsonl, request.append)
        return data_store_pb2.PutRecordsResponse(set=request.set, count=count)

    async def SampleRecords(self, request: data_store_pb2.SampleRecordsRequest,
                            context: grpc.aio.ServicerContext) -> data_store_pb2.SampleRecordsResponse:
        if request.n > self.max_items:
            raise InvalidArgument(f"n: {request.n} records in one call, max {self.max_items}")
        if request.cursor > MAX_CURSOR:
            raise InvalidArgument(f"cursor: {request.cursor} is beyond {MAX_CURSOR}; pass the next_cursor of "
                                  "the previous call (0 to start)")
        records, next_cursor, size, kind = await asyncio.to_thread(
            self.records.sample, request.set, request.n, request.seed, request.cursor)
        return data_store_pb2.SampleRecordsResponse(
            records=[json.dumps(r, ensure_ascii=False) for r in records], next_cursor=next_cursor, set_size=size,
            kind=pack_record_kind(kind))

    async def ReadRecords(self, request: data_store_pb2.ReadRecordsRequest,
                          context: grpc.aio.ServicerContext) -> AsyncIterator[data_store_pb2.RecordsChunk]:
        kind, records = await asyncio.to_thread(self.records.load, request.set)
        chunk, first = bytearray(), True
        for record in records:
            chunk += dump_jsonl([record])
            if len(chunk) >= CHUNK_SIZE:
                yield data_store_pb2.RecordsChunk(kind=pack_record_kind(kind), count=len(records), jsonl=bytes(chunk))
                chunk, first = bytearray(), False
        if chunk or first:
            yield data_store_pb2.RecordsChunk(kind=pack_record_kind(kind), count=len(records), jsonl=bytes(chunk))

    async def GetInfo(self, request: common_pb2.GetInfoRequest,
                      context: grpc.aio.ServicerContext) -> common_pb2.ModelInfo:
        return self.info


def build(service_config: ServiceConfig, config: Config) -> Service:
    """Opens the store named by `service_config.store` (file://DIR or s3://BUCKET[/prefix]), or by
    `config.store.uri` when that is empty; S3 endpoint and credentials come from `config.store` and
    the environment."""
    uri = service_config.store or config.store.uri
    field = "services.data_store.store" if service_config.store else "store.uri"
    try:
        store = open_store(uri, S3Settings.from_config(config.store))
    except StoreError as exc:
        raise ConfigError(f"{field}: {exc}") from None
    if isinstance(store, FileStore):
        removed = store.clean_temp_files()
        print(f"{SERVICE}: removed {removed} temp files left by writers that are gone", flush=True)
    servicer = DataStoreServicer(store, service_config.max_items)
    return Service(name=SERVICE, full_name="rlhf.v1.DataStore", servicer=servicer,
                   add_to_server=data_store_pb2_grpc.add_DataStoreServicer_to_server)
