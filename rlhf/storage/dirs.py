"""Whole directories (a saved model, a report) in the store, named by one URI.

`s3://bucket/pipelines/run-1/models/sft` or `file:///data/store/pipelines/run-1/models/sft` names
every object under that prefix. The pipeline passes such URIs between stages instead of paths on
one machine's disk.
"""

from __future__ import annotations

import json
from pathlib import Path

from rlhf.atomic import write_dir
from rlhf.storage import ObjectInfo, StoreError, open_store, split_uri

MANIFEST = ".rlhf-manifest.json"  # key -> sha256 of what a cached copy holds


def is_uri(name: str) -> bool:
    return name.startswith(("s3://", "file://"))


def _listing(uri: str):
    store_uri, prefix = split_uri(uri.rstrip("/"))
    store = open_store(store_uri)
    return store, prefix + "/", store.list(prefix + "/")


def upload_dir(local: str | Path, uri: str) -> list[ObjectInfo]:
    """Copies every file under `local` to `uri`/<relative path>; objects left over from an older
    upload under the same URI are deleted afterwards, so the URI names exactly this directory."""
    local = Path(local)
    if not local.is_dir():
        raise FileNotFoundError(f"{local}: no such directory to upload")
    store, prefix, before = _listing(uri)
    written = []
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        with path.open("rb") as f:
            written.append(store.put(prefix + path.relative_to(local).as_posix(), iter(lambda: f.read(1 << 20), b"")))
    keep = {info.key for info in written}
    for info in before:
        if info.key not in keep:
            store.delete(info.key)
    return written


def download_dir(uri: str, dest: str | Path) -> Path:
    """The objects under `uri` as files under `dest`, replaced as a whole (a reader never sees a
    half-downloaded directory). Raises FileNotFoundError if `uri` holds no objects."""
    store, prefix, objects = _listing(uri)
    if not objects:
        raise FileNotFoundError(f"{uri}: no objects under this URI")

    def fill(tmp: Path) -> None:
        for info in objects:
            target = tmp / info.key[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            with store.get(info.key) as reader, target.open("wb") as f:
                for chunk in reader:
                    f.write(chunk)
        (tmp / MANIFEST).write_text(json.dumps({info.key: info.sha256 for info in objects}, sort_keys=True))

    return write_dir(dest, fill)


def cached_dir(uri: str, cache_root: str | Path) -> Path:
    """A local copy of the directory at `uri` under `cache_root`, downloaded again only when the
    objects' sha256s changed since the last download."""
    if not is_uri(uri):
        raise StoreError(f"{uri!r}: expected s3://BUCKET/PREFIX or file:///DIR")
    import hashlib

    dest = Path(cache_root) / hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:20]
    _, _, objects = _listing(uri)
    current = {info.key: info.sha256 for info in objects}
    manifest = dest / MANIFEST
    if objects and manifest.exists() and json.loads(manifest.read_text()) == current and all(current.values()):
        return dest
    return download_dir(uri, dest)
