"""Directories in the store (models passed between pipeline steps): both backends, one suite."""

from __future__ import annotations

import pytest

from rlhf.storage import open_store
from rlhf.storage.dirs import MANIFEST, cached_dir, download_dir, upload_dir


@pytest.fixture(params=["file", "s3"])
def root_uri(request, tmp_path, monkeypatch) -> str:
    if request.param == "file":
        return f"file://{tmp_path}/store"
    s3 = request.getfixturevalue("moto_s3")
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    return f"s3://{s3.make_bucket()}"


def make_dir(path, files: dict[str, bytes]):
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path


def test_round_trip_and_reupload_removes_stale_objects(root_uri, tmp_path):
    uri = f"{root_uri}/pipelines/run-1/models/sft"
    src = make_dir(tmp_path / "src", {"config.json": b"{}", "model.safetensors": b"\x00" * 3000, "tok/a.txt": b"a"})
    assert len(upload_dir(src, uri)) == 3
    out = download_dir(uri, tmp_path / "out")
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()
            and p.name != MANIFEST} == {"config.json": b"{}", "model.safetensors": b"\x00" * 3000, "tok/a.txt": b"a"}

    (src / "tok" / "a.txt").unlink()
    upload_dir(src, uri)
    keys = [info.key for info in open_store(f"{root_uri}").list("pipelines/")] if root_uri.startswith("s3") else None
    out = download_dir(uri, tmp_path / "out")  # replaces the old copy as a whole
    assert not (out / "tok").exists() and (out / "config.json").exists()
    if keys is not None:
        assert all("tok/a.txt" not in key for key in keys)


def test_download_of_an_empty_prefix_names_the_uri(root_uri, tmp_path):
    with pytest.raises(FileNotFoundError, match="models/missing"):
        download_dir(f"{root_uri}/models/missing", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cached_dir_downloads_again_only_when_the_objects_change(root_uri, tmp_path):
    uri = f"{root_uri}/models/rm"
    src = make_dir(tmp_path / "src", {"config.json": b"{\"v\": 1}"})
    upload_dir(src, uri)
    first = cached_dir(uri, tmp_path / "cache")
    (first / "marker").write_text("kept while the store is unchanged")
    assert cached_dir(uri, tmp_path / "cache") == first and (first / "marker").exists()
    make_dir(src, {"config.json": b"{\"v\": 2}"})
    upload_dir(src, uri)
    second = cached_dir(uri, tmp_path / "cache")
    assert (second / "config.json").read_bytes() == b"{\"v\": 2}" and not (second / "marker").exists()
