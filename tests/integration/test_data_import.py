"""`rlhf data import` against a real data-store process: every record kind from files a team
writes, each bad input refused with the file, record set, line and field named, and one bad file
in an import storing nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipelines.data import import_data
from rlhf.clients.data_store import DataStoreClient
from rlhf.data.records import RecordError
from tests.e2e.own_data import write_jsonl, write_own_data
from tests.e2e.test_run import ROOT


@pytest.fixture(scope="module")
def store(tmp_path_factory, start_service):
    service = start_service("data-store", "--store", f"file://{tmp_path_factory.mktemp('import-store')}")
    with DataStoreClient(service.target, timeout=30, retries=0) as client:
        client.wait_ready()
        yield client


def stored_sets(store) -> dict[str, str]:
    return {info.key: info.sha256 for info in store.list("records/")}


def test_every_kind_imports_from_files(store, tmp_path):
    files = write_own_data(tmp_path)
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + b'{"text": "A text saved by an editor that writes a byte-order mark."}\n')
    counts = import_data(store, {**{name: str(path) for name, path in files.items()},
                                 "text/notes": f"file://{bom}", "general/extra": str(bom)})
    assert counts == {"prompts/train": 12, "prompts/heldout": 6, "comparisons/train": 12, "comparisons/heldout": 4,
                      "demonstrations": 12, "text/notes": 1, "general/extra": 1}
    pairs, _ = store.sample_records("comparisons/train", 12)
    assert sorted(len(p["completions"]) for p in pairs) == [2] * 6 + [3] * 6


GOOD = {"comparisons/train": {"prompt": "ok", "chosen": "a", "rejected": "b"}, "prompts/train": {"prompt": "ok"},
        "demonstrations": {"prompt": "ok", "completion": "fine"}, "general/train": {"text": "x"}}
BAD = [  # (record set, one bad record, the words the error must contain)
    ("comparisons/train", {"prompt": "p", "chosen": "a", "rejected": "b", "completions": ["a", "b"], "ranking": [0, 1]},
     "field 'chosen' next to 'completions'"),
    ("comparisons/train", {"prompt": "p", "chosen": "same", "rejected": "same"},
     "fields 'chosen' and 'rejected' are the same text"),
    ("comparisons/train", {"prompt": "p", "completions": ["a", "b"], "ranking": [0, 0]},
     "field 'ranking' must be a permutation"),
    ("prompts/train", {"prompt": "p", "constraints": [{"type": "max_wordz", "value": 3}]},
     "field 'constraints[0]': unknown constraint type 'max_wordz'"),
    ("prompts/train", {"prompt": "p", "constraint": [{"type": "lowercase"}]},
     "unknown field 'constraint' (did you mean 'constraints'?)"),
    ("demonstrations", {"messages": [{"role": "assistant", "content": "hi"}, {"role": "user", "content": "x"}]},
     "field 'messages[1]': the last turn must be the assistant's"),
    ("demonstrations", {"prompt": "p", "messages": [{"role": "user", "content": "x"},
                                                    {"role": "assistant", "content": "y"}]},
     "field 'prompt' next to 'messages'"),
    ("general/train", {"txt": "hello"}, "unknown field 'txt' (did you mean 'text'?)"),
]


@pytest.mark.parametrize("record_set, bad, message", BAD)
def test_a_bad_record_names_file_set_line_and_field_and_stores_nothing(store, tmp_path, record_set, bad, message):
    good = write_jsonl(tmp_path / "good.jsonl", [{"prompt": "A fine prompt."}])
    bad_file = write_jsonl(tmp_path / "bad.jsonl", [GOOD[record_set], bad])
    before = stored_sets(store)
    with pytest.raises(RecordError) as info:
        import_data(store, {"prompts/fine": str(good), record_set: str(bad_file)})
    assert f"{bad_file} (record set {record_set}) line 2: {message}" in str(info.value)
    assert stored_sets(store) == before  # the good file before it was not stored either


def test_unknown_set_names_and_missing_files_are_named(store, tmp_path):
    with pytest.raises(RecordError, match=r"record set 'pairs': its kind comes from its first path segment"):
        import_data(store, {"pairs": "demo"})
    with pytest.raises(FileNotFoundError, match=r"missing\.jsonl \(record set comparisons/train\): no such file"):
        import_data(store, {"comparisons/train": str(tmp_path / "missing.jsonl")})


def test_the_cli_exits_with_the_error_and_an_explicit_kind_works(store, tmp_path):
    bad = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "a"}])
    command = [sys.executable, "-m", "pipelines.cli", "data", "import"]
    env = {**os.environ, "RLHF_DATA_STORE_ADDR": store.target}
    result = subprocess.run([*command, f"comparisons/x={bad}"], cwd=ROOT, capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 1 and f"rlhf: {bad} (record set comparisons/x) line 1: fields 'chosen' and " \
                                      "'rejected' are the same text" in result.stderr, result.stderr
    good = write_jsonl(tmp_path / "ranked.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"}])
    result = subprocess.run([*command, "--kind", "comparisons", f"team-a/ranked={good}"], cwd=ROOT,
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(store.get("records/team-a/ranked.jsonl"))["completions"] == ["a", "b"]


def test_store_upload_puts_a_base_model_and_data_where_the_stages_read_them(moto_s3, tiny_models, tmp_path,
                                                                            monkeypatch):
    """`rlhf store upload`: a model directory becomes a URI sft.base_model loads, a JSONL file a
    source `rlhf data import` (and the chart's data.sources) reads."""
    from pipelines.common import resolve_model
    from pipelines.data import read_source

    bucket = moto_s3.make_bucket()
    env = {**os.environ, **moto_s3.env}
    files = write_own_data(tmp_path)
    for path, uri in ((tiny_models["policy"], f"s3://{bucket}/models/base"),
                      (files["comparisons/train"], f"s3://{bucket}/data/pairs.jsonl")):
        result = subprocess.run([sys.executable, "-m", "pipelines.cli", "store", "upload", str(path), uri], cwd=ROOT,
                                capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0 and f"to {uri}" in result.stdout, result.stderr
    for name, value in moto_s3.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RLHF_CACHE", str(tmp_path / "cache"))
    model_dir = resolve_model(f"s3://{bucket}/models/base")
    assert (model_dir / "model.safetensors").read_bytes() == (tiny_models["policy"] / "model.safetensors").read_bytes()
    assert read_source("comparisons/train", f"s3://{bucket}/data/pairs.jsonl") == files["comparisons/train"].read_bytes()
