"""Regenerates the demo data in this folder from the hand-written content in demo_sources.py and
demo_prose.py. Deterministic (one seeded RNG), so the committed files are exactly what this
script writes; tests/unit/test_demo_data.py re-runs it and compares.

    .venv/bin/python -m rlhf.data.demo.make_demo_data [--out DIR]

Prompts are question x constraints: each constraint is stated in words in the prompt and is one
the simulated labeler can verify (rlhf/data/constraints.py). Demonstrations are assembled from
the subject's facts to satisfy every constraint, and the script refuses to write one that the
checker rejects. Constraint values are kept within what a 135M-parameter model can do: short
answers (10-30 words).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from rlhf.data.demo.demo_prose import PARAGRAPHS
from rlhf.data.demo.demo_sources import CLOSERS, EXCLUDABLE_WORDS, HELDOUT_QUESTIONS, OPENERS, TRAIN_SUBJECTS
from rlhf.data.constraints import check, words

SEED = 2022
PROMPTS_PER_TRAIN_SUBJECT = 3
DEMONSTRATIONS_PER_TRAIN_SUBJECT = 2
HELDOUT_TEXT_FRACTION = 0.2
# Train subjects per topic whose prompts form prompts_validation.jsonl instead (and whose
# demonstrations are dropped): settings are chosen there, never on the held-out prompts.
VALIDATION_SUBJECTS_PER_TOPIC = 2

# How a prompt states each constraint; `{s}` pluralises the unit.
PHRASINGS: dict[str, tuple[str, ...]] = {
    "max_words": ("Answer in at most {value} words.", "Keep it to {value} words or fewer.",
                  "Use no more than {value} words."),
    "lowercase": ("Write your whole answer in lowercase letters.", "Use only lowercase letters."),
    "exclude_word": ("Do not use the word '{value}'.", "Avoid the word '{value}'."),
    "start_with": ("Start your answer with '{value}'.", "Begin with the words '{value}'."),
    "end_with": ("End your answer with '{value}'.", "Finish with the phrase '{value}'."),
    "no_commas": ("Do not use any commas.", "Avoid commas entirely."),
}
# Relative frequency of each type. The demo asks mostly for what the SFT policy meets only some of
# the time, so its K samples differ and the labeler's rankings teach the reward model the constraint
# (SFT on held-out prompts under the previous mix: start_with 11%, lowercase 26%, include_word 37%,
# end_with 43%, bullets 50%). Forbidden words are rare: SFT already avoids them ~90-100% of the
# time, so they rank little. Commas were as rare while SFT avoided them as often; today's SFT model
# meets "no commas" on only 75-83% of the validation answers and PPO on 96-100% in every seed, the
# steadiest gain of any type, so they are asked as often as the others (held-out win rates 64.0 ->
# 70.1% for PPO, 64.4 -> 67.0% for PPO-ptx, three seeds). Not asked at all: uppercase (a 135M model
# never writes in capitals, 0% even after PPO), min_words (15-40 words collide with the 40-token
# completion limit) and include_word: the reward model, which must find the named word anywhere in
# the answer, ordered pairs that differ only in it 33-43% of the time (worse than chance) after ~700
# preferred pairs. Without it, on the validation prompts, RM accuracy went from 56.2% to 71.0% and
# PPO from +5.3 to +12.0 points of satisfaction over SFT (one fp32 run each). Nor exactly N bullets
# (bullet_count) or sentences (sentence_count): PPO, which shortens answers, met them less often
# than SFT (validation prompts: bullets 62 -> 46%, sentences 40 -> 30%) while every other type rose,
# so they hid the gains. Without them, on the validation prompts (seed 0, bf16): RM accuracy 74.2 ->
# 78.7%, PPO's all-met gain over SFT +3.3 -> +16.7 points, satisfaction's +9.5 -> +9.8
# (docs/demo-results.md).
TYPE_WEIGHTS: dict[str, float] = {
    "max_words": 2.0, "lowercase": 2.0, "exclude_word": 0.5, "start_with": 2.0, "end_with": 2.0, "no_commas": 2.0,
}
# Tried and not kept, twice: two or three constraints, never one (fewer ties). At ten PPO steps one
# validation run liked it (PPO's win rate 59.2 -> 68.3%), three held-out seeds did not (59.4 +- 10.5%);
# at today's defaults two validation seeds won less (PPO 62.7 against 64.6%, PPO-ptx 57.2 against
# 64.1%; docs/demo-results.md, cc2v).
CONSTRAINT_COUNT_WEIGHTS = {1: 0.25, 2: 0.45, 3: 0.30}


def _mentions(text: str, word: str) -> bool:
    return check({"type": "include_word", "value": word}, text)


def _sample_types(rng: random.Random) -> list[str]:
    count = rng.choices(list(CONSTRAINT_COUNT_WEIGHTS), weights=list(CONSTRAINT_COUNT_WEIGHTS.values()))[0]
    chosen: list[str] = []
    while len(chosen) < count:
        options = [kind for kind in TYPE_WEIGHTS if kind not in chosen]
        chosen.append(rng.choices(options, weights=[TYPE_WEIGHTS[kind] for kind in options])[0])
    return chosen


def _sample_value(rng: random.Random, kind: str, excludable: list[str]):
    """A value for `kind`, or None when the type takes none (or nothing fits this subject)."""
    if kind == "max_words":
        # Up to 30: a 40-token completion is about 30 words, so a larger limit is met by any answer.
        return rng.randrange(10, 31, 5)
    if kind == "exclude_word":
        return rng.choice(excludable)
    if kind == "start_with":
        return rng.choice(OPENERS)
    if kind == "end_with":
        return rng.choice(CLOSERS)
    return None


def _plausible(constraints: list[dict]) -> bool:
    """Whether a short answer can meet all constraints at once: a 7-word sentence plus the opener
    and closer must fit under any word limit."""
    values = {c["type"]: c.get("value") for c in constraints}
    needed = 7 + 4 * ("start_with" in values) + 3 * ("end_with" in values)
    return values.get("max_words", needed) >= needed


def _sample_constraints(rng: random.Random, question: str, keywords: tuple[str, ...],
                        facts: tuple[str, ...] = ()) -> list[dict]:
    """1-3 compatible constraints; forbidden words never occur in the question, keywords or facts,
    so forbidding them asks for restraint, not for contradicting the topic; with lowercase asked,
    the opener and closer are lowercase too."""
    context = " ".join((question, *keywords, *facts))
    excludable = [word for word in EXCLUDABLE_WORDS if not _mentions(context, word)]
    while True:
        constraints = []
        for kind in _sample_types(rng):
            value = _sample_value(rng, kind, excludable)
            constraints.append({"type": kind} if value is None else {"type": kind, "value": value})
        if not _plausible(constraints):
            continue
        if any(c["type"] == "lowercase" for c in constraints):
            # A prompt that asks for lowercase quotes its phrases in lowercase: "Finish with 'Enjoy'"
            # beside "use only lowercase letters" contradicts itself to a reader, and a policy that
            # copies the quoted phrase then breaks the case rule without knowing it.
            for constraint in constraints:
                if constraint["type"] in ("start_with", "end_with"):
                    constraint["value"] = constraint["value"].lower()
        return constraints


def render_prompt(rng: random.Random, question: str, constraints: list[dict]) -> str:
    """The question followed by one sentence per constraint."""
    parts = [question]
    for constraint in constraints:
        value = constraint.get("value")
        template = rng.choice(PHRASINGS[constraint["type"]])
        parts.append(template.format(value=value, s="" if value == 1 else "s"))
    return " ".join(parts)


def compose(facts: tuple[str, ...], constraints: list[dict], preferred: int) -> str | None:
    """An answer built from `facts` that satisfies every constraint, or None if none can be
    built: the first `preferred` facts as prose, else the most that fit, from all of them down to one."""
    values = {c["type"]: c.get("value") for c in constraints}
    opener = [f"{values['start_with']}:"] if "start_with" in values else []
    closer = [f"{values['end_with']}."] if "end_with" in values else []
    for count in [preferred] + [n for n in range(len(facts), 0, -1) if n != preferred]:
        text = " ".join(opener + list(facts[:count]) + closer)
        if "lowercase" in values:
            text = text.lower()
        if all(check(constraint, text) for constraint in constraints):
            return text
    return None


def _check_sources() -> None:
    """Fail early on hand-written content that would break the guarantees above."""
    for subjects in TRAIN_SUBJECTS.values():
        for question, keywords, facts in subjects:
            for fact in facts:
                if "," in fact or not fact.endswith(".") or len(words(fact)) > 14:
                    raise ValueError(f"fact must be one short comma-free sentence: {fact!r}")
            for keyword in keywords:
                if not any(_mentions(fact, keyword) for fact in facts):
                    raise ValueError(f"keyword {keyword!r} of {question!r} occurs in none of its facts")


def validation_subjects() -> set[tuple[str, int]]:
    """(topic, index) of the train subjects carved out for validation: VALIDATION_SUBJECTS_PER_TOPIC
    per topic, drawn from an RNG of their own so the other files do not depend on the choice."""
    rng = random.Random(f"{SEED}-validation")
    return {(topic, index) for topic, subjects in TRAIN_SUBJECTS.items()
            for index in rng.sample(range(len(subjects)), VALIDATION_SUBJECTS_PER_TOPIC)}


def build_train(rng: random.Random) -> tuple[list[dict], list[dict], list[dict]]:
    """(train prompt records, demonstrations, validation prompt records). Every prompt has a valid
    demonstration available; the first DEMONSTRATIONS_PER_TRAIN_SUBJECT prompts of each train
    subject get one. The subjects of `validation_subjects` give validation prompts only: their
    questions are never trained on, as the held-out ones are not."""
    entries = []
    seen: set[str] = set()
    for topic, subjects in TRAIN_SUBJECTS.items():
        for index, (question, keywords, facts) in enumerate(subjects):
            made = 0
            while made < PROMPTS_PER_TRAIN_SUBJECT:
                constraints = _sample_constraints(rng, question, keywords, facts)
                prompt = render_prompt(rng, question, constraints)
                completion = compose(facts, constraints, preferred=rng.choice((2, 3)))
                if completion is None or prompt in seen:
                    continue
                seen.add(prompt)
                entries.append((prompt, constraints, completion if made < DEMONSTRATIONS_PER_TRAIN_SUBJECT else None,
                                (topic, index)))
                made += 1
    rng.shuffle(entries)
    carved = validation_subjects()
    train = [entry for entry in entries if entry[3] not in carved]
    validation = [entry for entry in entries if entry[3] in carved]
    prompts = [{"id": f"train-{i:04d}", "prompt": prompt, "constraints": constraints}
               for i, (prompt, constraints, _, _) in enumerate(train)]
    demonstrations = [{"prompt": prompt, "completion": completion}
                      for prompt, _, completion, _ in train if completion is not None]
    validation_prompts = [{"id": f"validation-{i:04d}", "prompt": prompt, "constraints": constraints}
                          for i, (prompt, constraints, _, _) in enumerate(validation)]
    return prompts, demonstrations, validation_prompts


def build_heldout(rng: random.Random) -> list[dict]:
    """One prompt per held-out question; these questions share nothing with the train subjects."""
    entries = []
    for questions in HELDOUT_QUESTIONS.values():
        for question, keywords in questions:
            constraints = _sample_constraints(rng, question, keywords)
            entries.append((render_prompt(rng, question, constraints), constraints))
    rng.shuffle(entries)
    return [{"id": f"heldout-{i:04d}", "prompt": prompt, "constraints": constraints}
            for i, (prompt, constraints) in enumerate(entries)]


def split_general_text(rng: random.Random) -> tuple[list[dict], list[dict]]:
    """(train, heldout) `{"text"}` records: a seeded HELDOUT_TEXT_FRACTION of the paragraphs is
    held out to measure the alignment tax, the rest feeds the PPO-ptx loss."""
    order = list(range(len(PARAGRAPHS)))
    rng.shuffle(order)
    cut = round(len(order) * HELDOUT_TEXT_FRACTION)
    heldout = sorted(order[:cut])
    train = sorted(order[cut:])
    return [{"text": PARAGRAPHS[i]} for i in train], [{"text": PARAGRAPHS[i]} for i in heldout]


def _write_jsonl(path: Path, records: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_demo_data(out_dir: Path) -> dict[str, int]:
    """Writes every demo file into `out_dir` and returns the record count of each."""
    _check_sources()
    rng = random.Random(SEED)
    train, demonstrations, validation = build_train(rng)
    heldout = build_heldout(rng)
    general_train, general_heldout = split_general_text(rng)
    files = {
        "prompts_train.jsonl": train,
        "prompts_validation.jsonl": validation,
        "prompts_heldout.jsonl": heldout,
        "demonstrations.jsonl": demonstrations,
        "general_train.jsonl": general_train,
        "general_heldout.jsonl": general_heldout,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, records in files.items():
        _write_jsonl(out_dir / name, records)
    return {name: len(records) for name, records in files.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    for name, count in write_demo_data(args.out).items():
        print(f"{count:5d}  {args.out / name}")


if __name__ == "__main__":
    main()
