"""Numbered model versions in the store, for a server that loads new ones while it serves.

Layout: `<store>/<repository>/<version>/<files>` with versions 1, 2, 3, ... (a larger number is
newer). `publish_version` uploads the files and then `published.json`, last: a version is
complete, and visible to `list_versions`, only once that object exists, so a poller never loads
half an upload. Versions are immutable: a caller pinned to one always gets the same model.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from rlhf.storage import StoreError, open_store
from rlhf.storage.dirs import download_dir, upload_dir

PUBLISHED = "published.json"
_VERSION = re.compile(r"[1-9][0-9]{0,17}")  # fits ModelInfo.version (int64)


def check_version(version: str, field: str = "version") -> str:
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise StoreError(f"{field} {version!r}: expected a positive whole number (1, 2, ...)")
    return version


def version_uri(store_uri: str, repository: str, version: str) -> str:
    """The URI of one version's directory, e.g. s3://bucket/reward/3 or file:///data/store/reward/3."""
    return f"{store_uri.rstrip('/')}/{repository.strip('/')}/{check_version(version)}"


def _versions(store_uri: str, repository: str) -> tuple[set[str], set[str]]:
    """(complete versions, every version that holds any object)."""
    prefix = repository.strip("/") + "/"
    complete, present = set(), set()
    for info in open_store(store_uri).list(prefix):
        version, _, rest = info.key[len(prefix):].partition("/")
        if not _VERSION.fullmatch(version):
            continue  # not a version directory: leave it alone
        present.add(version)
        if rest == PUBLISHED:
            complete.add(version)
    return complete, present


def list_versions(store_uri: str, repository: str) -> list[str]:
    """The complete versions under `repository`, oldest first."""
    return sorted(_versions(store_uri, repository)[0], key=int)


def publish_version(model_dir: str | Path, store_uri: str, repository: str, version: str | None = None) -> str:
    """Uploads `model_dir` as a new version (default: one more than the newest) and returns it.
    Refuses a version that already holds objects: versions are immutable."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: no model here (config.json missing)")
    _, present = _versions(store_uri, repository)
    if version is None:
        version = str(max((int(v) for v in present), default=0) + 1)
    check_version(version)
    if version in present:
        raise StoreError(f"version {version}: {version_uri(store_uri, repository, version)} already holds objects; "
                         "versions are immutable, publish a new one")
    uri = version_uri(store_uri, repository, version)
    written = upload_dir(model_dir, uri)
    marker = {"version": version, "source": str(model_dir.resolve()), "published_at": time.time(),
              "files": {info.key: info.sha256 for info in written}}
    open_store(store_uri).put_bytes(f"{repository.strip('/')}/{version}/{PUBLISHED}", json.dumps(marker, indent=2).encode())
    return version


def fetch_version(store_uri: str, repository: str, version: str, dest: str | Path) -> Path:
    """Downloads one complete version into `dest` (replaced as a whole)."""
    if version not in list_versions(store_uri, repository):
        raise FileNotFoundError(f"{version_uri(store_uri, repository, version)}: no complete version "
                                f"(no {PUBLISHED}); publish it with `rlhf reward publish`")
    return download_dir(version_uri(store_uri, repository, version), dest)
