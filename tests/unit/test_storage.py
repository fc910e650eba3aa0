"""One suite, both backends: a directory (file://) and a real S3 endpoint (moto_server, s3://)."""

from __future__ import annotations

import hashlib
import os
import socket

import pytest
import urllib3

from rlhf.storage import (ChecksumMismatch, InvalidKey, ObjectStore, S3Settings, StoreError, configure, open_store,
                          read_uri, split_uri, write_uri)
from rlhf.storage.file import FileStore


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path, monkeypatch) -> ObjectStore:
    if request.param == "file":
        return open_store(f"file://{tmp_path}/store")
    s3 = request.getfixturevalue("moto_s3")
    for name, value in s3.env.items():  # the way a service process is configured
        monkeypatch.setenv(name, value)
    return open_store(f"s3://{s3.make_bucket()}/runs/one")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_round_trip_keeps_bytes_digest_and_metadata(store):
    data = b"hello\x00world" * 100
    info = store.put_bytes("checkpoints/step-1/model.bin", data, metadata={"version": "3", "kind": "weights"})
    assert (info.size, info.sha256) == (len(data), _sha(data))
    assert store.get_bytes("checkpoints/step-1/model.bin") == data
    stat = store.stat("checkpoints/step-1/model.bin")
    assert (stat.key, stat.size, stat.sha256) == ("checkpoints/step-1/model.bin", len(data), _sha(data))
    assert stat.metadata == {"version": "3", "kind": "weights"}
    with store.get("checkpoints/step-1/model.bin") as reader:
        assert reader.info == stat


def test_empty_object(store):
    info = store.put_bytes("empty", b"")
    assert (info.size, info.sha256) == (0, _sha(b""))
    assert store.get_bytes("empty") == b""


def test_streams_a_multi_chunk_object_both_ways(store):
    piece = os.urandom(256 * 1024)
    pieces = [piece[i:] + piece[:i] for i in range(24)] + [b"tail"]  # 6 MiB + 4 bytes: an S3 multipart upload
    data = b"".join(pieces)
    info = store.put("big.bin", iter(pieces), metadata={"step": "7"})
    assert (info.size, info.sha256) == (len(data), _sha(data))
    chunks = list(store.get("big.bin", chunk_size=1024 * 1024))
    assert len(chunks) > 1 and all(len(c) <= 1024 * 1024 for c in chunks)
    assert b"".join(chunks) == data
    assert store.stat("big.bin").sha256 == _sha(data)
    assert store.stat("big.bin").metadata == {"step": "7"}


def test_put_replaces_the_object(store):
    store.put_bytes("a/obj", b"old", metadata={"v": "1"})
    store.put_bytes("a/obj", b"new contents", metadata={"v": "2"})
    assert store.get_bytes("a/obj") == b"new contents"
    stat = store.stat("a/obj")
    assert (stat.size, stat.sha256, stat.metadata) == (12, _sha(b"new contents"), {"v": "2"})


def test_expected_sha256_is_checked_before_the_object_appears(store):
    store.put_bytes("weights", b"version one", metadata={"v": "1"})
    with pytest.raises(ChecksumMismatch, match="sha256"):
        store.put_bytes("weights", b"version two, damaged", sha256=_sha(b"version two"))
    assert store.get_bytes("weights") == b"version one"
    assert store.stat("weights").sha256 == _sha(b"version one")
    assert store.stat("weights").metadata == {"v": "1"}
    with pytest.raises(ChecksumMismatch):
        store.put_bytes("never-stored", b"x", sha256=_sha(b"y"))
    with pytest.raises(FileNotFoundError):
        store.stat("never-stored")
    info = store.put_bytes("weights", b"version two", sha256=_sha(b"version two").upper())
    assert info.sha256 == _sha(b"version two")
    assert store.get_bytes("weights") == b"version two"


def test_an_aborted_put_leaves_the_old_object_and_no_trace(store):
    store.put_bytes("model", b"good")
    with pytest.raises(RuntimeError, match="connection lost"):
        with store.writer("model") as writer:
            writer.write(b"half of a new")
            raise RuntimeError("connection lost")
    assert store.get_bytes("model") == b"good"
    assert [info.key for info in store.list()] == ["model"]


def test_list_by_prefix(store):
    for key in ["a/1", "a/2", "ab", "b/c/d"]:
        store.put_bytes(key, key.encode())
    assert [i.key for i in store.list()] == ["a/1", "a/2", "ab", "b/c/d"]
    assert [i.key for i in store.list("a/")] == ["a/1", "a/2"]
    assert [i.key for i in store.list("a")] == ["a/1", "a/2", "ab"]
    assert [i.key for i in store.list("b/c/")] == ["b/c/d"]
    assert store.list("zzz/") == []
    listed = store.list("b/")[0]
    assert (listed.size, listed.sha256) == (5, _sha(b"b/c/d"))


def test_delete(store):
    store.put_bytes("x/y", b"1")
    assert store.delete("x/y") is True
    assert store.delete("x/y") is False
    for call in (store.stat, store.get, store.get_bytes):
        with pytest.raises(FileNotFoundError, match="x/y"):
            call("x/y")
    assert store.list() == []


def test_missing_object_is_file_not_found(store):
    with pytest.raises(FileNotFoundError, match="nope"):
        store.get("nope")
    with pytest.raises(FileNotFoundError):
        store.stat("nope/deeper")


@pytest.mark.parametrize("key", ["", "/abs/path", "a/../b", "..", "a//b", "a/", "./a", ".meta/x.json",
                                 "a/.tmp-1", "a\\b", "a\x00b", "x" * 1100])
def test_bad_keys_are_refused_with_a_clear_error(store, key):
    for call in (lambda: store.put_bytes(key, b"data"), lambda: store.get(key), lambda: store.stat(key),
                 lambda: store.delete(key)):
        with pytest.raises(InvalidKey, match="key"):
            call()


def test_bad_list_prefix_is_refused(store):
    with pytest.raises(InvalidKey, match="prefix"):
        store.list("../")


@pytest.mark.parametrize("metadata, field", [({"Upper": "x"}, "Upper"), ({"sha256": "x"}, "sha256"),
                                             ({"note": "caf\u00e9"}, "note"), ({"big": "x" * 3000}, "metadata")])
def test_bad_metadata_is_refused(store, metadata, field):
    with pytest.raises(StoreError, match=field):
        store.put_bytes("obj", b"data", metadata=metadata)


def test_read_and_write_full_uris(store):
    uri = f"{store.uri}/reports/eval.json"
    info = write_uri(uri, b'{"win_rate": 0.6}')
    assert info.sha256 == _sha(b'{"win_rate": 0.6}')
    assert read_uri(uri) == b'{"win_rate": 0.6}'
    # The same object, seen through the store it lives in.
    assert store.get_bytes("reports/eval.json") == b'{"win_rate": 0.6}'
    assert store.stat("reports/eval.json").sha256 == info.sha256
    with pytest.raises(FileNotFoundError):
        read_uri(f"{store.uri}/reports/missing.json")


def test_an_unreachable_s3_endpoint_fails_instead_of_hanging():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = open_store("s3://bucket", S3Settings(f"http://127.0.0.1:{port}", access_key="x", secret_key="y"))
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        store.stat("key")


def test_the_configs_store_section_reaches_s3_from_every_helper(moto_s3, monkeypatch, tmp_path):
    """endpoint, secure and the credential variables' names come from config.store, not only from
    the environment, for the data-store and for the stages' read_uri / write_uri / dirs alike."""
    from rlhf.config import StoreConfig
    from rlhf.storage.dirs import download_dir, upload_dir

    for name in ("RLHF_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEAM_KEY", moto_s3.env["AWS_ACCESS_KEY_ID"])
    monkeypatch.setenv("TEAM_SECRET", moto_s3.env["AWS_SECRET_ACCESS_KEY"])
    bucket = moto_s3.make_bucket()
    settings = S3Settings.from_config(StoreConfig(uri=f"s3://{bucket}", endpoint=moto_s3.endpoint, secure=False,
                                                  access_key_env="TEAM_KEY", secret_key_env="TEAM_SECRET"))
    assert open_store(f"s3://{bucket}", settings).put_bytes("direct", b"1").size == 1
    configure(settings)
    try:
        write_uri(f"s3://{bucket}/via/default.json", b"{}")
        assert read_uri(f"s3://{bucket}/via/default.json") == b"{}"
        (tmp_path / "model").mkdir()
        (tmp_path / "model" / "config.json").write_text("{}")
        upload_dir(tmp_path / "model", f"s3://{bucket}/models/m")
        assert (download_dir(f"s3://{bucket}/models/m", tmp_path / "copy") / "config.json").read_text() == "{}"
    finally:
        configure(S3Settings())


def test_split_uri():
    assert split_uri("file:///abs/dir/model.safetensors") == ("file:///abs/dir", "model.safetensors")
    assert split_uri("file://./runs/x.bin") == ("file://./runs", "x.bin")
    assert split_uri("s3://bucket/checkpoints/step-1/m.bin") == ("s3://bucket", "checkpoints/step-1/m.bin")
    for bad in ["s3://bucket", "file:///dir/", "http://host/x"]:
        with pytest.raises(StoreError, match="uri"):
            split_uri(bad)


def test_open_store_refuses_unknown_uris():
    for bad in ["/plain/path", "gs://bucket", "s3://ab", "file://"]:
        with pytest.raises(StoreError, match="uri"):
            open_store(bad)


def test_file_store_rehashes_a_file_changed_behind_its_back(tmp_path):
    """The sidecar is trusted only for the exact file it was written for."""
    store = FileStore(tmp_path)
    store.put_bytes("obj", b"through the store", metadata={"v": "1"})
    (tmp_path / "obj").write_bytes(b"edited by hand")
    stat = store.stat("obj")
    assert (stat.size, stat.sha256, stat.metadata) == (14, _sha(b"edited by hand"), {})
    (tmp_path / "dropped-in").write_bytes(b"copied here")
    assert store.stat("dropped-in").sha256 == _sha(b"copied here")


def test_file_store_hides_its_own_files_and_leaves_no_temp_files(tmp_path):
    store = FileStore(tmp_path)
    store.put_bytes("d/obj", b"1")
    with pytest.raises(ChecksumMismatch):
        store.put_bytes("d/obj", b"2", sha256=_sha(b"3"))
    assert sorted(os.listdir(tmp_path / "d")) == ["obj"]
    assert [i.key for i in store.list()] == ["d/obj"]


def test_file_store_relative_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = open_store("file://./runs/store")
    store.put_bytes("k", b"v")
    assert (tmp_path / "runs" / "store" / "k").read_bytes() == b"v"


def test_file_store_object_and_prefix_cannot_share_a_name(tmp_path):
    store = FileStore(tmp_path)
    store.put_bytes("a", b"object")
    with pytest.raises(StoreError, match="'a/b'"):
        store.put_bytes("a/b", b"under an object")
    store.put_bytes("c/d", b"1")
    with pytest.raises(StoreError, match="'c'"):
        store.put_bytes("c", b"over a prefix")
    assert store.get_bytes("a") == b"object"
