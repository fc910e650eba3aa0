"""Object storage: `file://DIR` (the embedded default) and `s3://BUCKET[/prefix]` (MinIO, S3).

`open_store(uri)` picks the backend; `read_uri` / `write_uri` handle one whole object named by a
full URI (`file:///abs/dir/model.safetensors`, `s3://bucket/checkpoints/step-10/model.safetensors`).
Every s3:// store is opened with one `S3Settings`: given explicitly, else the process's default,
which a command sets from its config (`configure(S3Settings.from_config(config.store))`), else the
environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rlhf.config import StoreConfig

from rlhf.storage.base import (CHUNK_SIZE, ChecksumMismatch, InvalidKey, ObjectInfo, ObjectReader, ObjectStore,
                               ObjectWriter, StoreError)

__all__ = ["CHUNK_SIZE", "ChecksumMismatch", "InvalidKey", "ObjectInfo", "ObjectReader", "ObjectStore",
           "ObjectWriter", "S3Settings", "StoreError", "configure", "open_store", "read_uri", "split_uri", "write_uri"]


@dataclass(frozen=True)
class S3Settings:
    """How to reach S3: a None field falls back to the environment ($RLHF_S3_ENDPOINT,
    $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY; see `rlhf.storage.s3.connect`)."""

    endpoint: str | None = None
    secure: bool | None = None
    access_key: str | None = None
    secret_key: str | None = None

    @classmethod
    def from_config(cls, store: StoreConfig) -> "S3Settings":
        """The config's endpoint and TLS, credentials from the environment variables it names."""
        return cls(store.endpoint or None, store.secure, os.environ.get(store.access_key_env),
                   os.environ.get(store.secret_key_env))


_default_s3 = S3Settings()


def configure(settings: S3Settings) -> None:
    """Makes `settings` the process's default for s3:// stores opened without explicit settings."""
    global _default_s3
    _default_s3 = settings


def open_store(uri: str, s3: S3Settings | None = None) -> ObjectStore:
    """`file://DIR` (relative like file://./runs/store, or file:///abs) or `s3://BUCKET[/prefix]`,
    reached with `s3` (default: the process's, see `configure`)."""
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

        s3 = s3 or _default_s3
        client = connect(s3.endpoint, secure=s3.secure, access_key=s3.access_key, secret_key=s3.secret_key)
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
