"""The object-store interface both backends implement, and the key and metadata rules they share.

Both backends validate keys and metadata the same way, so an object that can be stored in a
directory can be stored in a bucket and the other way round.
"""

from __future__ import annotations

import abc
import hashlib
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

CHUNK_SIZE = 1024 * 1024
MAX_KEY_BYTES = 1024          # the S3 limit
MAX_SEGMENT_BYTES = 250       # a file name (255 bytes on Linux) less the file store's ".json" sidecar suffix
MAX_METADATA_BYTES = 2048     # the S3 limit on user metadata (keys + values)
_METADATA_KEY = re.compile(r"[a-z0-9][a-z0-9_-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class StoreError(ValueError):
    """A request the store refuses (bad key, bad metadata, checksum mismatch); the message names the field."""


class InvalidKey(StoreError):
    """A key that is empty, absolute, has '.'/'..'/empty/hidden segments or control characters."""


class ChecksumMismatch(StoreError):
    """The bytes of a put do not hash to the expected sha256; the object was not stored."""


@dataclass
class ObjectInfo:
    """What a store knows about one object."""

    key: str
    size: int
    sha256: str                  # hex digest of the bytes; "" for an S3 object written by another tool
    metadata: dict[str, str] = field(default_factory=dict)


def check_key(key: str, field_name: str = "key") -> str:
    """Returns `key` if it is a safe object key; raises InvalidKey naming the field otherwise.

    Hidden segments (a leading '.') are refused because the file backend keeps its sidecars and
    temp files under such names.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey(f"{field_name}: must not be empty")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidKey(f"{field_name} {key[:40]!r}...: longer than {MAX_KEY_BYTES} bytes")
    if key.startswith("/"):
        raise InvalidKey(f"{field_name} {key!r}: must be relative (no leading '/')")
    if "\\" in key or any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise InvalidKey(f"{field_name} {key!r}: backslashes and control characters are not allowed")
    for segment in key.split("/"):
        if segment == "":
            raise InvalidKey(f"{field_name} {key!r}: empty path segment (leading, trailing or doubled '/')")
        if segment in (".", ".."):
            raise InvalidKey(f"{field_name} {key!r}: '.' and '..' segments are not allowed")
        if segment.startswith("."):
            raise InvalidKey(f"{field_name} {key!r}: segment {segment!r} starts with '.', which the store reserves")
        if len(segment.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
            raise InvalidKey(f"{field_name} {key[:40]!r}...: a segment (between '/') is longer than "
                             f"{MAX_SEGMENT_BYTES} bytes")
    return key


def check_prefix(prefix: str) -> str:
    """A list prefix is a key, or the start of one (it may end with '/'), or empty for everything."""
    if prefix:
        check_key(prefix[:-1] if prefix.endswith("/") else prefix, "prefix")
    return prefix


def check_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    """User metadata travels as S3 headers: lowercase keys, printable ASCII values, 2 KiB in all."""
    metadata = dict(metadata or {})
    total = 0
    for name, value in metadata.items():
        if not isinstance(name, str) or not _METADATA_KEY.fullmatch(name):
            raise StoreError(f"metadata key {name!r}: use lowercase letters, digits, '-' and '_'")
        if name == "sha256":
            raise StoreError("metadata key 'sha256': reserved for the digest the store computes")
        if not isinstance(value, str) or not all(32 <= ord(c) < 127 for c in value):
            raise StoreError(f"metadata {name!r}: the value must be a string of printable ASCII characters")
        total += len(name) + len(value)
    if total > MAX_METADATA_BYTES:
        raise StoreError(f"metadata: {total} bytes, more than the {MAX_METADATA_BYTES} an object may carry")
    return metadata


def check_sha256(sha256: str | None, field_name: str = "sha256") -> str | None:
    """The digest in lowercase, None when none is given; raises StoreError naming the field unless
    it is 64 hexadecimal digits."""
    if not sha256:
        return None
    if not _SHA256.fullmatch(sha256.lower()):
        raise StoreError(f"{field_name} {sha256[:80]!r}: expected 64 hexadecimal digits")
    return sha256.lower()


class ObjectWriter(abc.ABC):
    """Takes an object's bytes chunk by chunk; nothing is visible until `commit()`.

    Use it as a context manager: leaving the block without `commit()` (an error, a cancelled
    upload) discards what was written and leaves any older object under the key untouched.
    """

    def __init__(self, key: str, metadata: dict[str, str] | None, sha256: str | None):
        self.key = check_key(key)
        self.metadata = check_metadata(metadata)
        self.expected_sha256 = check_sha256(sha256)
        self.size = 0
        self._hash = hashlib.sha256()
        self._done = False

    def write(self, chunk: bytes) -> None:
        self._sink(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def commit(self) -> ObjectInfo:
        """Publishes the object atomically, after checking the expected sha256 if one was given."""
        digest = self._hash.hexdigest()
        if self.expected_sha256 and digest != self.expected_sha256:
            self.abort()
            raise ChecksumMismatch(f"sha256: expected {self.expected_sha256} but the {self.size} bytes received "
                                   f"hash to {digest}; {self.key!r} was not stored")
        info = ObjectInfo(self.key, self.size, digest, dict(self.metadata))
        self._publish(info)
        self._done = True
        return info

    def abort(self) -> None:
        if not self._done:
            self._done = True
            self._discard()

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.abort()

    @abc.abstractmethod
    def _sink(self, chunk: bytes) -> None:
        """Stores a chunk somewhere private (a temp file)."""

    @abc.abstractmethod
    def _publish(self, info: ObjectInfo) -> None:
        """Makes the private bytes the object under `info.key`, in one atomic step."""

    @abc.abstractmethod
    def _discard(self) -> None:
        """Drops the private bytes."""


class ObjectReader:
    """An open object: `info` describes exactly the bytes that iterating yields, chunk by chunk.

    Opening happens before the first chunk, so a missing object fails at `get()`, not mid-stream.
    The reader closes itself when iteration ends; `close()` (or a `with` block) releases it early.
    """

    def __init__(self, info: ObjectInfo, chunks: Iterator[bytes], close: Callable[[], None]):
        self.info = info
        self._chunks = chunks
        self._close = close

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._chunks
        finally:
            self.close()

    def read(self) -> bytes:
        return b"".join(self)

    def close(self) -> None:
        self._close()

    def __enter__(self) -> ObjectReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ObjectStore(abc.ABC):
    """Objects under string keys ('checkpoints/step-10/model.safetensors'), each with a sha256 and
    user metadata. A missing object raises FileNotFoundError in every backend."""

    uri: str

    @abc.abstractmethod
    def writer(self, key: str, *, metadata: dict[str, str] | None = None, sha256: str | None = None) -> ObjectWriter:
        """Starts a streaming put; see ObjectWriter."""

    @abc.abstractmethod
    def get(self, key: str, chunk_size: int = CHUNK_SIZE) -> ObjectReader:
        """Opens an object for streaming; raises FileNotFoundError if there is none."""

    @abc.abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Size, sha256 and metadata without reading the bytes; FileNotFoundError if missing."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object whose key starts with `prefix` (a plain string prefix, as in S3), sorted by key."""

    @abc.abstractmethod
    def delete(self, key: str) -> bool:
        """Removes an object; returns whether there was one."""

    def put(self, key: str, chunks: Iterable[bytes], *, metadata: dict[str, str] | None = None,
            sha256: str | None = None) -> ObjectInfo:
        """Streams `chunks` into the object under `key`, replacing any older one atomically."""
        with self.writer(key, metadata=metadata, sha256=sha256) as writer:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()

    def put_bytes(self, key: str, data: bytes, *, metadata: dict[str, str] | None = None,
                  sha256: str | None = None) -> ObjectInfo:
        return self.put(key, [data], metadata=metadata, sha256=sha256)

    def get_bytes(self, key: str) -> bytes:
        return self.get(key).read()
