"""The file store under faults: a Put killed mid-stream leaves a temp file that the data-store
removes when it starts again, and readers racing a writer always see an object with its metadata."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time

import grpc

from pipelines.processes import ServiceProcess
from rlhf.proto.v1 import data_store_pb2, data_store_pb2_grpc
from rlhf.storage.file import FileStore
from tests.faults.conftest import wait_for


def temp_files(root) -> list[str]:
    return [name for _, _, names in os.walk(root) for name in names if ".tmp-" in name]


def test_a_killed_put_leaves_no_temp_file_after_a_restart(tmp_path):
    store = tmp_path / "store"
    proc = ServiceProcess("data-store", "--store", f"file://{store}", timeout=120)
    sent = threading.Event()

    def chunks():
        yield data_store_pb2.ObjectChunk(header=data_store_pb2.ObjectHeader(key="big/object", size=64 << 20))
        yield data_store_pb2.ObjectChunk(data=b"x" * (1 << 20))
        sent.set()
        time.sleep(60)  # the rest never comes: the server is killed first

    with grpc.insecure_channel(proc.target) as channel:
        call = data_store_pb2_grpc.DataStoreStub(channel).Put.future(chunks(), timeout=120)
        wait_for(lambda: sent.is_set() and temp_files(store), 30, "the Put's temp file")
        os.kill(proc.proc.pid, signal.SIGKILL)
        proc.proc.wait(30)
        call.cancel()
    assert temp_files(store)
    again = ServiceProcess("data-store", "--store", f"file://{store}", timeout=120, port=proc.port)
    try:
        assert "removed 1 temp files" in again.output
        assert temp_files(store) == []
    finally:
        again.terminate()


def test_readers_racing_a_writer_always_see_the_metadata(tmp_path):
    store = FileStore(tmp_path)
    store.put_bytes("model", b"0", metadata={"version": "0"})
    stop = time.monotonic() + 3
    seen: list[tuple[bytes, dict, str]] = []

    def write() -> None:
        version = 0
        while time.monotonic() < stop:
            version += 1
            store.put_bytes("model", str(version).encode(), metadata={"version": str(version)})

    def read() -> None:
        while time.monotonic() < stop:
            reader = store.get("model")
            seen.append((reader.read(), reader.info.metadata, reader.info.sha256))

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) > 100
    for data, metadata, sha256 in seen:
        assert metadata == {"version": data.decode()} and sha256 == hashlib.sha256(data).hexdigest()
