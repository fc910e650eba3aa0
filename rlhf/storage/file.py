"""The embedded backend: objects are files under a directory.

A put streams into a hidden temp file next to its target, fsyncs it, and `os.replace`s it into
place, so readers see the old object or the new one, never a part. The sha256 and user metadata
live in a sidecar `.meta/<key>.json` that also records the file's inode, size and mtime: a reader
trusts the sidecar only when those match the file it opened, and rehashes otherwise (a file
copied in by hand, two writers racing on one key, a crash between the sidecar and the replace),
so a stale sidecar is never believed. A sidecar also keeps the record of the file it replaces: a
reader that opened the old file just before a replace still finds its sha256 and metadata there,
and one overtaken by several replaces opens the new file (with only the newest record, readers saw
the object without its metadata).

Temp files are named `.tmp-<pid>-...`; `clean_temp_files` (the data-store runs it at start) removes
those of writers that are gone, such as a Put killed mid-stream.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Iterator

from rlhf.atomic import write_file
from rlhf.storage.base import (CHUNK_SIZE, InvalidKey, ObjectInfo, ObjectReader, ObjectStore, ObjectWriter,
                               StoreError, check_key, check_prefix)

META_DIR = ".meta"
_NOT_A_FILE = (FileNotFoundError, IsADirectoryError, NotADirectoryError)
_WRITER_TEMP = re.compile(r"\.tmp-(\d+)-")
_ANY_TEMP = re.compile(r"^\..*\.tmp-|^\.tmp-")  # ours, and rlhf.atomic's sidecar temps
_REOPENS = 5  # a reader overtaken this often by writers of one key falls back to hashing
STALE_TEMP_SECONDS = 3600
"""A temp file that names no writer process (a sidecar's) is stale once this old."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _stamp(st: os.stat_result) -> list[int]:
    """What identifies one version of a file: a replace changes the inode, a rewrite the mtime."""
    return [st.st_ino, st.st_size, st.st_mtime_ns]


class FileStore(ObjectStore):
    def __init__(self, root: str | Path, uri: str | None = None):
        self.root = Path(root)
        self.uri = uri or f"file://{self.root}"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _meta_path(self, key: str) -> Path:
        return self.root / META_DIR / f"{key}.json"

    def _missing(self, key: str) -> FileNotFoundError:
        return FileNotFoundError(f"{self.uri}: no object {key!r}")

    def clean_temp_files(self) -> int:
        """Removes temp files their writers left behind: those of a process that no longer runs,
        or of this one (at start nothing of ours is in flight; a restarted container may reuse its
        pid), and sidecar temps older than STALE_TEMP_SECONDS. Returns how many went."""
        removed = 0
        now = time.time()
        for dirpath, _, filenames in os.walk(self.root):
            for name in filenames:
                if not _ANY_TEMP.match(name):
                    continue
                path = Path(dirpath, name)
                writer = _WRITER_TEMP.match(name)
                try:
                    if writer:
                        pid = int(writer.group(1))
                        stale = pid == os.getpid() or not _alive(pid)
                    else:
                        stale = now - path.stat().st_mtime > STALE_TEMP_SECONDS
                    if stale:
                        path.unlink()
                        removed += 1
                except FileNotFoundError:  # its writer finished meanwhile
                    continue
        return removed

    def _recorded(self, key: str, st: os.stat_result) -> ObjectInfo | None:
        """The sidecar's record of this very file (the current one, or the one it replaced)."""
        try:
            meta = json.loads(self._meta_path(key).read_bytes())
            for record in (meta, meta.get("previous") or {}):
                if record.get("stamp") == _stamp(st):
                    return ObjectInfo(key, st.st_size, record["sha256"], record.get("metadata", {}))
        except (*_NOT_A_FILE, ValueError, KeyError, AttributeError):
            pass
        return None

    def _open_with_info(self, key: str) -> tuple[BinaryIO, ObjectInfo]:
        """The object's file, open, and what describes it. A file replaced while we looked (its
        sidecar already names a later one) is opened again; a file no sidecar describes (copied in
        by hand, a crash between sidecar and replace) is hashed, its metadata unknown."""
        for _ in range(_REOPENS):
            f = self._open(key)
            st = os.fstat(f.fileno())
            info = self._recorded(key, st)
            if info is not None:
                return f, info
            try:
                replaced = os.stat(self._path(key)).st_ino != st.st_ino
            except _NOT_A_FILE:
                replaced = False
            if not replaced:
                break
            f.close()
        try:
            digest = hashlib.sha256()
            while chunk := f.read(CHUNK_SIZE):
                digest.update(chunk)
            f.seek(0)
        except BaseException:
            f.close()
            raise
        return f, ObjectInfo(key, st.st_size, digest.hexdigest(), {})

    def _open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except _NOT_A_FILE:
            raise self._missing(key) from None

    def writer(self, key: str, *, metadata: dict[str, str] | None = None, sha256: str | None = None) -> ObjectWriter:
        return _FileWriter(self, key, metadata, sha256)

    def get(self, key: str, chunk_size: int = CHUNK_SIZE) -> ObjectReader:
        f, info = self._open_with_info(key)

        def chunks() -> Iterator[bytes]:
            while chunk := f.read(chunk_size):
                yield chunk

        return ObjectReader(info, chunks(), f.close)

    def stat(self, key: str) -> ObjectInfo:
        f, info = self._open_with_info(key)
        f.close()
        return info

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        check_prefix(prefix)
        # Walk only the deepest directory the prefix names, then filter by the full prefix.
        start = self.root / prefix.rpartition("/")[0]
        infos = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    infos.append(self.stat(key))
                except (FileNotFoundError, InvalidKey):  # deleted while we walked, or not a key we could store
                    continue
        return sorted(infos, key=lambda info: info.key)

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except _NOT_A_FILE:
            return False
        self._meta_path(key).unlink(missing_ok=True)
        return True


class _FileWriter(ObjectWriter):
    def __init__(self, store: FileStore, key: str, metadata: dict[str, str] | None, sha256: str | None):
        super().__init__(key, metadata, sha256)
        self.store = store
        self.path = store._path(key)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StoreError(f"key {key!r}: a parent of it is an object, not a prefix") from None
        if self.path.is_dir():
            raise StoreError(f"key {key!r}: is a prefix of other objects, so it cannot be an object too")
        fd, self.tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".tmp-{os.getpid()}-")
        os.fchmod(fd, 0o644)
        self.file = os.fdopen(fd, "wb")

    def _sink(self, chunk: bytes) -> None:
        self.file.write(chunk)

    def _publish(self, info: ObjectInfo) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        stamp = _stamp(os.fstat(self.file.fileno()))
        self.file.close()
        # The sidecar goes first: it names the temp file's inode, which the replace keeps. It keeps
        # the record of the file being replaced, for readers that opened that one.
        sidecar = {"sha256": info.sha256, "metadata": info.metadata, "stamp": stamp,
                   "previous": self._current_record()}
        sidecar_bytes = json.dumps(sidecar).encode()
        write_file(self.store._meta_path(info.key), lambda f: f.write(sidecar_bytes))
        os.replace(self.tmp, self.path)
        _fsync_dir(self.path.parent)

    def _current_record(self) -> dict | None:
        """The sidecar's record of the file now under the key, if it describes that file."""
        try:
            meta = json.loads(self.store._meta_path(self.key).read_bytes())
            st = os.stat(self.path)
        except (*_NOT_A_FILE, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("stamp") != _stamp(st):
            return None
        return {name: meta[name] for name in ("sha256", "metadata", "stamp") if name in meta}

    def _discard(self) -> None:
        self.file.close()
        Path(self.tmp).unlink(missing_ok=True)
