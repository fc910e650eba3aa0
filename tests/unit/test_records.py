"""Record kinds, line-numbered validation errors, deterministic resumable sampling, stored sets."""

from __future__ import annotations

import json

import pytest

from rlhf.data.records import (RecordError, RecordKind, RecordSets, dump_jsonl, load_jsonl, parse_jsonl, sample,
                               validate)
from rlhf.storage.file import FileStore


def _jsonl(*records) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n"


@pytest.mark.parametrize("kind, record, parsed", [
    ("prompts", {"prompt": "Say hi.", "constraints": [{"type": "lowercase"}], "id": 7},
     {"prompt": "Say hi.", "constraints": [{"type": "lowercase"}], "id": 7}),
    ("demonstrations", {"prompt": "Say hi.", "completion": "hi"}, {"prompt": "Say hi.", "completion": "hi"}),
    ("comparisons", {"prompt": "p", "completions": ["a", "b", "c"], "ranking": [2, 0, 1]},
     {"prompt": "p", "completions": ["a", "b", "c"], "ranking": [2, 0, 1]}),
    ("comparisons", {"prompt": "p", "chosen": "good", "rejected": "bad", "source": "hh"},
     {"prompt": "p", "source": "hh", "completions": ["good", "bad"], "ranking": [0, 1]}),
    ("rollouts", {"step": 3, "prompt": "p", "completion": "", "reward": 1, "kl": 0.1},
     {"step": 3, "prompt": "p", "completion": "", "reward": 1.0, "kl": 0.1}),
    ("text", {"text": "The river ran past the mill."}, {"text": "The river ran past the mill."}),
])
def test_valid_records_parse_to_their_normal_form(kind, record, parsed):
    assert parse_jsonl(_jsonl(record, record), kind) == [parsed, parsed]
    assert isinstance(parse_jsonl(_jsonl(record), kind)[0].get("reward", 0.0), float)


@pytest.mark.parametrize("kind, bad, field", [
    ("prompts", {"text": "no prompt"}, "field 'prompt' is missing"),
    ("prompts", {"prompt": 3}, "field 'prompt' must be a string"),
    ("prompts", {"prompt": "  "}, "field 'prompt' is empty"),
    ("prompts", {"prompt": "p", "constraints": "short"}, "field 'constraints' must be a list"),
    ("demonstrations", {"prompt": "p"}, "field 'completion' is missing"),
    ("demonstrations", {"prompt": "p", "completion": None}, "field 'completion' must be a string"),
    ("comparisons", {"prompt": "p"}, "field 'completions' is missing"),
    ("comparisons", {"prompt": "p", "chosen": "a"}, "field 'rejected' is missing"),
    ("comparisons", {"prompt": "p", "completions": ["a"], "ranking": [0]}, "field 'completions' holds 1"),
    ("comparisons", {"prompt": "p", "completions": ["a"] * 10, "ranking": list(range(10))}, "holds 10"),
    ("comparisons", {"prompt": "p", "completions": ["a", 2], "ranking": [0, 1]}, "field 'completions' must be"),
    ("comparisons", {"prompt": "p", "completions": ["a", "b"]}, "field 'ranking' is missing"),
    ("comparisons", {"prompt": "p", "completions": ["a", "b", "c"], "ranking": [0, 0, 1]}, "field 'ranking'"),
    ("comparisons", {"prompt": "p", "completions": ["a", "b"], "ranking": [0, 2]}, "permutation of 0..1"),
    ("comparisons", {"prompt": "p", "completions": ["a", "b"], "ranking": [False, True]}, "field 'ranking'"),
    ("comparisons", {"prompt": "p", "completions": ["a", "b", "c"], "ranking": [[0, 1, 2]]}, "ties every completion"),
    ("comparisons", {"prompt": "p", "completions": ["a", "b", "c"], "ranking": [[0], 1, 2]}, "2 or more"),
    ("comparisons", {"prompt": "p", "completions": ["a", "b", "c"], "ranking": [[0, 1], 1]}, "permutation of 0..2"),
    ("rollouts", {"prompt": "p", "completion": "c", "reward": 1.0}, "field 'step' is missing"),
    ("rollouts", {"step": -1, "prompt": "p", "completion": "c", "reward": 1.0}, "field 'step'"),
    ("rollouts", {"step": True, "prompt": "p", "completion": "c", "reward": 1.0}, "field 'step'"),
    ("rollouts", {"step": 1, "prompt": "p", "completion": "c"}, "field 'reward' is missing"),
    ("rollouts", {"step": 1, "prompt": "p", "completion": "c", "reward": "high"}, "field 'reward'"),
    ("rollouts", {"step": 1, "prompt": "p", "completion": "c", "reward": float("nan")}, "field 'reward'"),
    ("text", {"prompt": "p"}, "field 'text' is missing"),
    ("text", {"text": 3}, "field 'text' must be a string"),
    ("prompts", ["p"], "expected a JSON object, got list"),
    ("prompts", '{"prompt": "p",', "not valid JSON"),
])
def test_errors_name_the_source_line_and_field(kind, bad, field):
    good = {"prompts": {"prompt": "p"}, "demonstrations": {"prompt": "p", "completion": "c"},
            "comparisons": {"prompt": "p", "chosen": "a", "rejected": "b"},
            "rollouts": {"step": 0, "prompt": "p", "completion": "c", "reward": 0.5}, "text": {"text": "t"}}[kind]
    with pytest.raises(RecordError) as error:
        parse_jsonl(_jsonl(good, "", bad), kind, source="train.jsonl")  # line 2 is blank, still counted
    assert str(error.value).startswith("train.jsonl line 3: ")
    assert field in str(error.value)


def test_non_utf8_names_the_line():
    with pytest.raises(RecordError, match=r"^jsonl line 2: not valid UTF-8"):
        parse_jsonl(b'{"prompt": "ok"}\n{"prompt": "caf\xe9"}\n', "prompts")


def test_unknown_kind():
    with pytest.raises(RecordError, match="kind 'labels'"):
        parse_jsonl("", "labels")


def test_line_separators_inside_strings_do_not_split_records():
    text = 'line\u2028two\u0085three'
    records = parse_jsonl(json.dumps({"prompt": text}, ensure_ascii=False) + "\r\n", "prompts")
    assert records == [{"prompt": text}]


def test_dump_and_parse_round_trip():
    records = [{"prompt": "caf\u00e9 \u2028", "completion": "x"}, {"prompt": "b", "completion": "y", "id": 2}]
    data = dump_jsonl(records)
    assert len(data.splitlines()) == 2
    assert parse_jsonl(data, RecordKind.DEMONSTRATIONS) == records


def test_load_jsonl_names_the_file(tmp_path):
    path = tmp_path / "demos.jsonl"
    path.write_text(_jsonl({"prompt": "p", "completion": "c"}, {"prompt": "p"}))
    with pytest.raises(RecordError, match=f"^{path} line 2: field 'completion' is missing"):
        load_jsonl(path, "demonstrations")
    path.write_text(_jsonl({"prompt": "p", "completion": "c"}))
    assert load_jsonl(path, "demonstrations") == [{"prompt": "p", "completion": "c"}]


def test_validate_one_record():
    assert validate({"prompt": "p", "chosen": "a", "rejected": "b"}, "comparisons")["ranking"] == [0, 1]
    with pytest.raises(RecordError, match="^record: field 'prompt' is missing"):
        validate({}, "prompts")


def test_sampling_is_deterministic_and_seeded():
    assert sample(50, 20, seed=1, cursor=0) == sample(50, 20, seed=1, cursor=0)
    assert sample(50, 20, seed=1, cursor=0)[0] != sample(50, 20, seed=2, cursor=0)[0]


def test_sampling_is_pinned_across_machines():
    """PCG64 seeded by (seed, epoch): these values must never change, or resumed runs would diverge."""
    assert sample(10, 10, seed=0, cursor=0) == ([4, 6, 2, 7, 3, 5, 9, 0, 8, 1], 10)


def test_sampling_resumes_exactly_from_the_cursor():
    first, cursor = sample(13, 10, seed=5, cursor=0)
    second, cursor2 = sample(13, 10, seed=5, cursor=cursor)
    whole, cursor_whole = sample(13, 20, seed=5, cursor=0)
    assert first + second == whole
    assert cursor2 == cursor_whole == 20


def test_every_record_appears_once_per_epoch():
    indices, _ = sample(7, 7 * 4, seed=3, cursor=0)
    epochs = [indices[i:i + 7] for i in range(0, len(indices), 7)]
    assert all(sorted(epoch) == list(range(7)) for epoch in epochs)
    assert len({tuple(epoch) for epoch in epochs}) > 1  # each epoch is shuffled anew


def test_sampling_an_empty_set_is_refused():
    with pytest.raises(RecordError, match="no records"):
        sample(0, 1, seed=0, cursor=0)


@pytest.fixture
def sets(tmp_path) -> RecordSets:
    return RecordSets(FileStore(tmp_path))


def test_record_sets_store_validate_and_sample(sets):
    prompts = [{"prompt": f"prompt {i}"} for i in range(5)]
    assert sets.put("prompts/train", "prompts", dump_jsonl(prompts)) == 5
    info = sets.store.stat("records/prompts/train.jsonl")
    assert info.metadata == {"kind": "prompts", "count": "5"}
    records, cursor, size, kind = sets.sample("prompts/train", 5, seed=0, cursor=0)
    assert sorted(r["prompt"] for r in records) == [p["prompt"] for p in prompts]
    assert (cursor, size, kind) == (5, 5, RecordKind.PROMPTS)


def test_record_sets_store_nothing_unless_every_line_is_valid(sets):
    sets.put("demos", "demonstrations", _jsonl({"prompt": "a", "completion": "b"}))
    with pytest.raises(RecordError, match="jsonl line 2: field 'completion' is missing"):
        sets.put("demos", "demonstrations", _jsonl({"prompt": "x", "completion": "y"}, {"prompt": "z"}))
    assert sets.load("demos")[1] == [{"prompt": "a", "completion": "b"}]
    with pytest.raises(RecordError):
        sets.put("fresh", "prompts", _jsonl({"prompt": "ok"}, {"nope": 1}))
    with pytest.raises(FileNotFoundError):
        sets.store.stat("records/fresh.jsonl")


def test_record_sets_append_requires_the_same_kind(sets):
    assert sets.put("p", "prompts", _jsonl({"prompt": "a"}), append=True) == 1  # creates the set
    assert sets.put("p", "prompts", _jsonl({"prompt": "b"}, {"prompt": "c"}), append=True) == 3
    assert [r["prompt"] for r in sets.load("p")[1]] == ["a", "b", "c"]
    with pytest.raises(RecordError, match="kind: set 'p' holds prompts"):
        sets.put("p", "demonstrations", _jsonl({"prompt": "d", "completion": "e"}), append=True)
    assert sets.put("p", "demonstrations", _jsonl({"prompt": "d", "completion": "e"})) == 1  # replacing is fine


def test_record_sets_see_a_replaced_set(sets):
    sets.put("s", "prompts", _jsonl({"prompt": "old"}))
    assert sets.sample("s", 1, 0, 0)[0] == [{"prompt": "old"}]
    RecordSets(sets.store).put("s", "prompts", _jsonl({"prompt": "new"}))  # another writer
    assert sets.sample("s", 1, 0, 0)[0] == [{"prompt": "new"}]


def test_a_missing_set_is_not_found(sets):
    with pytest.raises(FileNotFoundError, match="set 'missing': no such record set"):
        sets.sample("missing", 1, seed=0, cursor=0)


@pytest.mark.parametrize("name, n, message", [("s", 0, "n: 0 records asked"),
                                              ("", 1, "set: must not be empty"),
                                              ("../up", 1, "set '../up'"),
                                              ("a b", 1, "set 'a b'")])
def test_record_sets_refuse_bad_sample_requests(sets, name, n, message):
    sets.put("s", "prompts", _jsonl({"prompt": "p"}))
    with pytest.raises(RecordError, match=message):
        sets.sample(name, n, seed=0, cursor=0)


def test_record_sets_refuse_an_empty_upload(sets):
    with pytest.raises(RecordError, match="jsonl: holds no records"):
        sets.put("s", "prompts", "\n\n")


def test_a_ranking_may_tie_equally_good_completions():
    record = {"prompt": "p", "completions": ["a", "b", "c", "d"], "ranking": [2, [0, 3], 1]}
    assert parse_jsonl(json.dumps(record), "comparisons") == [record]
