"""The cluster backend: objects in an S3 bucket (MinIO in the chart), through the `minio` client.

A put spools its chunks to a local temp file while hashing them, checks the expected digest, then
uploads with the digest in the object's metadata (`x-amz-meta-sha256`); S3 makes the object
appear atomically. Every HTTP call has a connect and read timeout and a few retries, so a dead
endpoint fails a call instead of hanging it.
"""

from __future__ import annotations

import os
import tempfile
from typing import Iterator

import certifi
import urllib3
from minio import Minio
from minio.error import S3Error

from rlhf.storage.base import (CHUNK_SIZE, InvalidKey, ObjectInfo, ObjectReader, ObjectStore, ObjectWriter,
                               check_key, check_prefix)

_META = "x-amz-meta-"
_MISSING = ("NoSuchKey", "NoSuchObject", "NoSuchBucket")


def connect(endpoint: str | None = None, *, secure: bool | None = None, access_key: str | None = None,
            secret_key: str | None = None, connect_timeout: float = 10.0, read_timeout: float = 120.0,
            retries: int = 3) -> Minio:
    """A minio client. `endpoint` is host:port, optionally with an http:// or https:// scheme that
    decides `secure`; without one it comes from RLHF_S3_ENDPOINT, else AWS S3 itself. Credentials
    default to AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY."""
    endpoint = endpoint or os.environ.get("RLHF_S3_ENDPOINT") or "https://s3.amazonaws.com"
    scheme, _, host = endpoint.rpartition("://")
    if scheme:
        secure = scheme == "https"
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        retries=urllib3.Retry(total=retries, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
    )
    return Minio(host.rstrip("/"), access_key=access_key or os.environ.get("AWS_ACCESS_KEY_ID"),
                 secret_key=secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY"), secure=bool(secure),
                 region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"), http_client=http)


def _user_metadata(headers) -> tuple[str, dict[str, str]]:
    """(sha256, the rest) from response headers; S3 lowercases metadata names."""
    metadata = {name.lower()[len(_META):]: value for name, value in headers.items()
                if name.lower().startswith(_META)}
    return metadata.pop("sha256", ""), metadata


class S3Store(ObjectStore):
    def __init__(self, client: Minio, bucket: str, prefix: str = ""):
        self.client = client
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.uri = f"s3://{bucket}/{self.prefix}".rstrip("/")

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _not_found(self, key: str, exc: S3Error) -> FileNotFoundError:
        if exc.code == "NoSuchBucket":
            return FileNotFoundError(f"{self.uri}: bucket {self.bucket!r} does not exist")
        return FileNotFoundError(f"{self.uri}: no object {key!r}")

    def writer(self, key: str, *, metadata: dict[str, str] | None = None, sha256: str | None = None) -> ObjectWriter:
        return _S3Writer(self, key, metadata, sha256)

    def get(self, key: str, chunk_size: int = CHUNK_SIZE) -> ObjectReader:
        try:
            response = self.client.get_object(self.bucket, self._name(key))
        except S3Error as exc:
            if exc.code in _MISSING:
                raise self._not_found(key, exc) from None
            raise
        sha256, metadata = _user_metadata(response.headers)
        info = ObjectInfo(key, int(response.headers["content-length"]), sha256, metadata)

        def chunks() -> Iterator[bytes]:
            yield from (chunk for chunk in response.stream(chunk_size) if chunk)

        def close() -> None:
            response.close()
            response.release_conn()

        return ObjectReader(info, chunks(), close)

    def stat(self, key: str) -> ObjectInfo:
        try:
            obj = self.client.stat_object(self.bucket, self._name(key))
        except S3Error as exc:
            if exc.code in _MISSING:
                raise self._not_found(key, exc) from None
            raise
        sha256, metadata = _user_metadata(obj.metadata)
        return ObjectInfo(key, obj.size, sha256, metadata)

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Lists, then stats each object: ListObjects does not return user metadata."""
        check_prefix(prefix)
        infos = []
        try:
            listed = list(self.client.list_objects(self.bucket, prefix=self.prefix + prefix, recursive=True))
        except S3Error as exc:
            if exc.code == "NoSuchBucket":
                raise self._not_found(prefix, exc) from None
            raise
        for obj in listed:
            if obj.is_dir:
                continue
            try:
                infos.append(self.stat(obj.object_name[len(self.prefix):]))
            except (FileNotFoundError, InvalidKey):  # deleted since the listing, or not a key we could store
                continue
        return sorted(infos, key=lambda info: info.key)

    def delete(self, key: str) -> bool:
        try:
            self.stat(key)
        except FileNotFoundError:
            return False
        self.client.remove_object(self.bucket, self._name(key))
        return True


class _S3Writer(ObjectWriter):
    def __init__(self, store: S3Store, key: str, metadata: dict[str, str] | None, sha256: str | None):
        super().__init__(key, metadata, sha256)
        self.store = store
        self.spool = tempfile.TemporaryFile(prefix="rlhf-s3-put-")

    def _sink(self, chunk: bytes) -> None:
        self.spool.write(chunk)

    def _publish(self, info: ObjectInfo) -> None:
        self.spool.seek(0)
        try:
            self.store.client.put_object(self.store.bucket, self.store._name(info.key), self.spool, info.size,
                                         metadata={"sha256": info.sha256, **info.metadata})
        except S3Error as exc:
            if exc.code == "NoSuchBucket":
                raise self.store._not_found(info.key, exc) from None
            raise
        self.spool.close()

    def _discard(self) -> None:
        self.spool.close()
