"""The bundled demo data: reproducible from its script, well-formed, and consistent with the
labeler that will judge it (every demonstration satisfies its prompt; held-out questions are
never trained on)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rlhf.data.demo.make_demo_data import TYPE_WEIGHTS, write_demo_data
from rlhf.labelers import CONSTRAINT_TYPES, check, satisfaction

DEMO = Path(__file__).resolve().parents[2] / "rlhf" / "data" / "demo"
FILES = ("prompts_train.jsonl", "prompts_validation.jsonl", "prompts_heldout.jsonl", "demonstrations.jsonl",
         "general_train.jsonl", "general_heldout.jsonl")


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (DEMO / name).read_text(encoding="utf-8").splitlines()]


def question(prompt: str) -> str:
    """The prompt's first sentence: the question, before the constraint sentences."""
    return re.split(r"(?<=[.?!])\s", prompt, maxsplit=1)[0]


def test_script_reproduces_the_committed_files(tmp_path: Path) -> None:
    counts = write_demo_data(tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (DEMO / name).read_bytes(), f"{name} is stale: re-run the script"
    assert counts == {name: len(load(name)) for name in FILES}


def test_counts_and_size() -> None:
    assert len(load("prompts_train.jsonl")) == 240
    assert len(load("prompts_validation.jsonl")) == 60
    assert len(load("prompts_heldout.jsonl")) == 80
    assert len(load("demonstrations.jsonl")) == 160
    assert 150 <= len(load("general_train.jsonl")) + len(load("general_heldout.jsonl")) <= 400
    assert sum((DEMO / name).stat().st_size for name in FILES) < 1_000_000


def how_stated(constraint: dict) -> str:
    """Text the prompt must contain for the constraint to be stated in words, not only in the record."""
    value = constraint.get("value")
    if value is None:
        return {"lowercase": "lowercase", "no_commas": "comma"}[constraint["type"]]
    return f"'{value}'" if isinstance(value, str) else f" {value} "


@pytest.mark.parametrize("name", ["prompts_train.jsonl", "prompts_validation.jsonl", "prompts_heldout.jsonl"])
def test_prompt_records(name: str) -> None:
    records = load(name)
    assert len({record["id"] for record in records}) == len(records)
    assert len({record["prompt"] for record in records}) == len(records)
    for record in records:
        assert set(record) == {"id", "prompt", "constraints"}
        constraints = record["constraints"]
        assert 1 <= len(constraints) <= 3
        assert len({c["type"] for c in constraints}) == len(constraints)
        for constraint in constraints:
            assert constraint["type"] in CONSTRAINT_TYPES
            check(constraint, "a well-formed constraint does not raise")
            assert how_stated(constraint) in record["prompt"], (record["prompt"], constraint)
            assert constraint["type"] in TYPE_WEIGHTS  # never a type the demo chose not to ask for
            if constraint["type"] == "max_words":
                assert 10 <= constraint["value"] <= 30
            if constraint["type"] in ("start_with", "end_with") and {"type": "lowercase"} in constraints:
                # A prompt never quotes a capitalised phrase it also forbids by asking for lowercase.
                assert check({"type": "lowercase"}, how_stated(constraint)), record["prompt"]


def test_heldout_questions_are_never_trained_on() -> None:
    train = {question(record["prompt"]) for record in load("prompts_train.jsonl")}
    heldout = {question(record["prompt"]) for record in load("prompts_heldout.jsonl")}
    assert len(train) == 80 and len(heldout) == 80
    assert not train & heldout


def test_validation_questions_are_never_trained_on_nor_held_out() -> None:
    """prompts/validation: whole train subjects (2 per topic, all 3 prompts of each) carved out, so
    neither SFT, the label stage nor PPO sees their questions; settings are chosen there."""
    validation = [question(record["prompt"]) for record in load("prompts_validation.jsonl")]
    train = {question(record["prompt"]) for record in load("prompts_train.jsonl")}
    demonstrated = {question(record["prompt"]) for record in load("demonstrations.jsonl")}
    heldout = {question(record["prompt"]) for record in load("prompts_heldout.jsonl")}
    assert len(set(validation)) == 20 and all(validation.count(q) == 3 for q in set(validation))
    assert not set(validation) & (train | demonstrated | heldout)
    assert all(record["id"].startswith("validation-") for record in load("prompts_validation.jsonl"))


def test_every_demonstration_satisfies_its_prompt() -> None:
    prompts = {record["prompt"]: record for record in load("prompts_train.jsonl")}
    demonstrations = load("demonstrations.jsonl")
    assert len({demo["prompt"] for demo in demonstrations}) == len(demonstrations)
    for demo in demonstrations:
        assert set(demo) == {"prompt", "completion"}
        assert satisfaction(prompts[demo["prompt"]]["constraints"], demo["completion"]) == 1.0, demo


def test_general_text_is_split_without_overlap() -> None:
    train = [record["text"] for record in load("general_train.jsonl")]
    heldout = [record["text"] for record in load("general_heldout.jsonl")]
    assert heldout and train and not set(train) & set(heldout)
    assert all(len(text.split()) >= 40 for text in train + heldout)
