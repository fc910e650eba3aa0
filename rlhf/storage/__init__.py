"""Object storage: `file://DIR` (the embedded default) and `s3://BUCKET[/prefix]` (MinIO, S3).

`open_store(uri)` picks the backend; `read_uri` / `write_uri` handle one whole object named by a
full URI (`file:///abs/dir/model.safetensors`, `s3://bucket/checkpoints/step-10/model.safetensors`).
"""

from __future__ import annotations

from pathlib import Path

from rlhf.storage.base import (CHUNK_SIZE, ChecksumMismatch, InvalidKey, ObjectInfo, ObjectReader, ObjectStore,
                               ObjectWriter, StoreError)

__all__ = ["CHUNK_SIZE", "ChecksumMismatch", "InvalidKey", "ObjectInfo", "ObjectReader", "ObjectStore",
           "ObjectWriter", "StoreError", "open_store", "read_uri", "split_uri", "write_uri"]


def open_store(uri: str, *, endpoint: str | None = None, secure: bool | None = None,
               access_key: str | None = None, secret_key: str | None = None) -> ObjectStore:
    """`file://DIR` (relative like file://./runs/store, or file:///abs) or `s3://BUCKET[/prefix]`.

    For s3:// the endpoint defaults to $RLHF_S3_ENDPOINT and the credentials to
    $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY (see `rlhf.storage.s3.connect`).
    """
    if uri.startswith("file://"):
        root = uri[len("file://"):]
        if not root:
            raise StoreError(f"store uri {uri!r}: names no directory")
        from rlhf.storage.file import FileStore

        return FileStore(Path(root), uri)
    if uri.startswith("s3://"):
        bucket, _, prefix = uri[len("s3://"):].partition("/")
        if len(bucket) < 3:
            raise StoreError(f"store uri {uri!r}: bucket names have at least 3 characters")
        from rlhf.storage.s3 import S3Store, connect

        client = connect(endpoint, secure=secure, access_key=access_key, secret_key=secret_key)
        return S3Store(client, bucket, prefix)
    raise StoreError(f"store uri {uri!r}: expected file://DIR or s3://BUCKET[/prefix]")


def split_uri(uri: str) -> tuple[str, str]:
    """A full object URI as (store URI, key): for file:// the parent directory is the store and the
    file name the key; for s3:// the bucket is the store and the rest the key."""
    if uri.startswith("s3://"):
        bucket, _, key = uri[len("s3://"):].partition("/")
        if not key:
            raise StoreError(f"uri {uri!r}: names a bucket, not an object")
        return f"s3://{bucket}", key
    if uri.startswith("file://"):
        parent, slash, name = uri[len("file://"):].rpartition("/")
        if not name:
            raise StoreError(f"uri {uri!r}: names a directory, not an object")
        root = parent or ("/" if slash else ".")  # file:///name lives in "/", file://name in "."
        return f"file://{root}", name
    raise StoreError(f"uri {uri!r}: expected file://PATH or s3://BUCKET/KEY")


def read_uri(uri: str) -> bytes:
    """The whole object at a full URI; FileNotFoundError if it is missing."""
    store_uri, key = split_uri(uri)
    return open_store(store_uri).get_bytes(key)


def write_uri(uri: str, data: bytes, metadata: dict[str, str] | None = None) -> ObjectInfo:
    """Writes (atomically replaces) the whole object at a full URI."""
    store_uri, key = split_uri(uri)
    return open_store(store_uri).put_bytes(key, data, metadata=metadata)
