"""Numbered model versions in the store (rlhf/storage/versions.py) and the registry of loaded
versions reward-kserve serves from (services/reward_kserve/versions.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rlhf.storage import StoreError, open_store
from rlhf.storage.versions import PUBLISHED, fetch_version, list_versions, publish_version, version_uri
from services.reward_kserve.versions import RewardVersions, VersionNotFound


@pytest.fixture
def model_dir(tmp_path):
    path = tmp_path / "model"
    (path / "sub").mkdir(parents=True)
    (path / "config.json").write_text('{"model_type": "llama"}')
    (path / "model.safetensors").write_bytes(b"\0" * 100)
    (path / "sub" / "extra.txt").write_text("x")
    return path


def test_publish_numbers_versions_and_fetch_returns_the_files(tmp_path, model_dir):
    store = f"file://{tmp_path / 'store'}"
    assert list_versions(store, "reward") == []
    assert publish_version(model_dir, store, "reward") == "1"
    assert publish_version(model_dir, store, "reward", "9") == "9"
    assert publish_version(model_dir, store, "reward") == "10"
    assert list_versions(store, "reward") == ["1", "9", "10"]  # numeric order, oldest first
    assert version_uri(store, "reward", "9") == f"{store}/reward/9"
    got = fetch_version(store, "reward", "9", tmp_path / "fetched")
    assert (got / "model.safetensors").read_bytes() == b"\0" * 100
    assert (got / "sub" / "extra.txt").read_text() == "x"


def test_versions_are_immutable_and_numbers_only(tmp_path, model_dir):
    store = f"file://{tmp_path / 'store'}"
    publish_version(model_dir, store, "reward", "2")
    with pytest.raises(StoreError, match="version 2: .* already holds objects; versions are immutable"):
        publish_version(model_dir, store, "reward", "2")
    for bad in ("0", "v3", "01", "1.5", ""):
        with pytest.raises(StoreError, match="expected a positive whole number"):
            publish_version(model_dir, store, "reward", bad)


def test_a_version_without_its_marker_is_invisible(tmp_path, model_dir):
    """An upload in progress (files, no published.json yet) is never listed or fetched."""
    store_uri = f"file://{tmp_path / 'store'}"
    publish_version(model_dir, store_uri, "reward", "1")
    store = open_store(store_uri)
    store.put_bytes("reward/2/config.json", b"{}")
    store.put_bytes("reward/notes/readme.txt", b"not a version")
    assert list_versions(store_uri, "reward") == ["1"]
    with pytest.raises(FileNotFoundError, match=f"no complete version \\(no {PUBLISHED}\\)"):
        fetch_version(store_uri, "reward", "2", tmp_path / "fetched")
    assert publish_version(model_dir, store_uri, "reward") == "3"  # 2 is taken, even half-written


def test_publish_refuses_a_directory_without_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json missing"):
        publish_version(tmp_path, f"file://{tmp_path / 'store'}", "reward")


def version(name: str) -> SimpleNamespace:
    return SimpleNamespace(name=name)


def test_registry_serves_the_newest_by_default_and_keeps_the_newest_few():
    registry = RewardVersions("reward", keep=2)
    v1, v2, v3 = version("1"), version("2"), version("3")
    registry.add(v1)
    assert registry.get() is v1 and registry.get("") is v1
    registry.add(v3)
    registry.add(v2)  # loaded late: still not the default
    assert registry.get() is v3
    assert registry.names() == ["3", "2"]
    assert registry.get("2") is v2
    with pytest.raises(VersionNotFound, match="version '1' is not loaded; loaded versions: 3, 2"):
        registry.get("1")
    assert registry.newest() == 3
