"""Constraint checkers and the simulated labeler: the demo's stand-in for human judgement, so its
rules must match what the prompts promise and its rankings must be valid RM training records."""

from __future__ import annotations

import itertools
import random

import pytest

from rlhf.labelers import CONSTRAINT_TYPES, Labeler, SimulatedLabeler, check, comparison_record, satisfaction
from rlhf.data.constraints import distance
from rlhf.labelers.simulated import looks_finished, repetition, says_something

CASES = [
    # (constraint, text, satisfied)
    ({"type": "max_words", "value": 5}, "One two three four five.", True),
    ({"type": "max_words", "value": 5}, "One two three four five six.", False),
    ({"type": "max_words", "value": 3}, "- one\n- two\n- three", True),  # bullet markers are not words
    ({"type": "max_words", "value": 2}, "Don't panic!", True),
    ({"type": "min_words", "value": 4}, "three little words", False),
    ({"type": "min_words", "value": 3}, "three little words", True),
    ({"type": "bullet_count", "value": 2}, "Tips:\n- Rest.\n* Drink water.", True),
    ({"type": "bullet_count", "value": 2}, "  • indented bullet\n- another", True),
    ({"type": "bullet_count", "value": 3}, "- one\n- two", False),
    ({"type": "bullet_count", "value": 2}, "**Bold** title\n- one\n-two", False),
    ({"type": "sentence_count", "value": 3}, "It rains. It pours! Why? ", True),
    ({"type": "sentence_count", "value": 2}, "It costs 3.5 euros. Wait... really", True),
    ({"type": "sentence_count", "value": 1}, "One. Two.", False),
    ({"type": "lowercase"}, "all quiet here, 42 times.", True),
    ({"type": "lowercase"}, "all quiet Here.", False),
    ({"type": "uppercase"}, "LOUD AND CLEAR, 100%!", True),
    ({"type": "uppercase"}, "LOUD AND CLEaR", False),
    ({"type": "include_word", "value": "cat"}, "The CAT's bowl is empty.", True),
    ({"type": "include_word", "value": "cat"}, "A category of cats.", False),
    ({"type": "include_word", "value": "New Orleans"}, "Jazz came from new\norleans.", True),
    ({"type": "exclude_word", "value": "very"}, "Every day is everything.", True),
    ({"type": "exclude_word", "value": "very"}, "It is Very good.", False),
    ({"type": "start_with", "value": "Sure"}, '  "sure, here you go.', True),
    ({"type": "start_with", "value": "Sure"}, "Surely not.", False),
    ({"type": "start_with", "value": "In short"}, "Briefly, in short: no.", False),
    ({"type": "end_with", "value": "Good luck!"}, "Try it.  GOOD   luck.", True),
    ({"type": "end_with", "value": "Good luck"}, 'Try it. Good luck!"', True),
    ({"type": "end_with", "value": "luck"}, "Keep the pluck", False),
    ({"type": "end_with", "value": "Good luck"}, "Good luck, and try it.", False),
    ({"type": "no_commas"}, "No commas in sight.", True),
    ({"type": "no_commas"}, "One, two.", False),
    ({"type": "no_commas"}, "Full width，comma.", False),
]


def test_cases_cover_every_type() -> None:
    assert {constraint["type"] for constraint, _, _ in CASES} == CONSTRAINT_TYPES
    assert {(constraint["type"], satisfied) for constraint, _, satisfied in CASES} == set(
        itertools.product(CONSTRAINT_TYPES, (True, False)))


@pytest.mark.parametrize(("constraint", "text", "satisfied"), CASES)
def test_check(constraint: dict, text: str, satisfied: bool) -> None:
    assert check(constraint, text) is satisfied


@pytest.mark.parametrize("kind", sorted(CONSTRAINT_TYPES))
def test_an_answer_without_words_satisfies_nothing(kind: str) -> None:
    constraint = {"type": kind, "value": {"max_words": 10, "min_words": 0, "bullet_count": 0,
                                          "sentence_count": 0}.get(kind, "word")}
    for text in ("", "   \n", "- ...", "!!"):
        assert check(constraint, text) is False


def test_unknown_type_is_named() -> None:
    with pytest.raises(ValueError, match="'word_salad'"):
        check({"type": "word_salad"}, "text")


@pytest.mark.parametrize("constraint", [{"type": "max_words"}, {"type": "max_words", "value": "30"},
                                        {"type": "bullet_count", "value": True},
                                        {"type": "include_word", "value": ""}, {"type": "end_with", "value": 3}])
def test_malformed_values_raise_even_for_empty_text(constraint: dict) -> None:
    with pytest.raises(ValueError, match=constraint["type"]):
        check(constraint, "")


def test_satisfaction_is_the_fraction_satisfied() -> None:
    constraints = [{"type": "lowercase"}, {"type": "max_words", "value": 3}, {"type": "include_word", "value": "tea"},
                   {"type": "no_commas"}]
    assert satisfaction(constraints, "i like tea") == 1.0
    assert satisfaction(constraints, "I like green tea, hot") == 0.25
    with pytest.raises(ValueError):
        satisfaction([], "anything")


@pytest.mark.parametrize(("constraint", "text", "satisfied"), CASES)
def test_distance_is_zero_exactly_when_satisfied(constraint: dict, text: str, satisfied: bool) -> None:
    assert (distance(constraint, text) == 0.0) is satisfied
    assert 0.0 <= distance(constraint, text) <= 1.0


@pytest.mark.parametrize(("constraint", "near", "far", "near_distance"), [
    ({"type": "max_words", "value": 3}, "one two three four", "one two three four five six", 1 / 3),
    ({"type": "min_words", "value": 4}, "one two three", "one", 1 / 4),
    ({"type": "bullet_count", "value": 3}, "- a\n- b\n- c\n- d", "- a\n- b\n- c\n- d\n- e\n- f", 1 / 3),
    ({"type": "sentence_count", "value": 2}, "A b. C d. E f.", "A b. C d. E f. G h.", 1 / 2),
    ({"type": "lowercase"}, "Mostly quiet here", "LOUD here", 1 / 15),
    ({"type": "uppercase"}, "LOUD AND CLEAr", "Loud", 1 / 12),
    ({"type": "exclude_word", "value": "very"}, "A very good day.", "Very very good.", 1 / 2),
    ({"type": "no_commas"}, "One, two.", "One, two, three.", 1 / 2),
    ({"type": "start_with", "value": "Here is the plan"}, "Here is a plan.", "A plan.", 1 - 2 / 5),
    ({"type": "end_with", "value": "Good luck!"}, "And so, luck.", "Go now.", 1 - 1 / 3),
])
def test_nearer_misses_are_closer(constraint: dict, near: str, far: str, near_distance: float) -> None:
    assert distance(constraint, near) == pytest.approx(near_distance)
    assert distance(constraint, near) < distance(constraint, far) <= 1.0


def test_distance_of_silence_and_of_a_missing_word_is_one() -> None:
    assert distance({"type": "max_words", "value": 5}, "") == 1.0
    assert distance({"type": "include_word", "value": "tea"}, "I like coffee.") == 1.0


def test_quality_signals() -> None:
    assert looks_finished("Done.") and looks_finished("- one\n- two")
    assert not looks_finished("It was cut off in the") and not looks_finished("  ")
    assert repetition("a b c d e") == 0.0
    assert repetition("go go go go go go") > 0.7


PROMPT = {"id": "p", "prompt": "Greet me in lowercase, in at most 8 words.",
          "constraints": [{"type": "lowercase"}, {"type": "max_words", "value": 8}]}


def test_satisfying_completion_ranks_first() -> None:
    completions = ["Hello There, My Dear Old Friend Of Mine Today.", "hi there dear friend.", "Hi there dear friend."]
    for seed in range(20):
        assert SimulatedLabeler(seed).rank(PROMPT, completions) == [1, 2, 0]


@pytest.mark.parametrize(("worse", "better"), [
    ("", "HELLO THERE MY GOOD DEAR FRIEND."),  # both satisfy nothing: saying something beats silence
    ("hi there my dear", "hi there my dear."),  # both satisfy all: finished beats cut off
    ("hi there you hi there you all.", "hi there you all."),  # both satisfy all: varied beats a loop
])
def test_ties_are_broken_by_quality_before_chance(worse: str, better: str) -> None:
    for seed in range(20):
        assert SimulatedLabeler(seed).rank(PROMPT, [worse, better]) == [1, 0]


QUOTING = {"id": "q", "prompt": "Why is the sky blue? Finish with the phrase 'Hope this helps'. Avoid commas entirely.",
           "constraints": [{"type": "end_with", "value": "Hope this helps"}, {"type": "no_commas"}]}


@pytest.mark.parametrize(("text", "answers"), [
    ("Hope this helps.", False),  # the quoted phrase alone
    ("HOPE this helps. hope THIS helps.", False),  # case and repeats add nothing
    ("Avoid commas entirely.", False),  # the instruction read back
    ("Why is the sky blue?", False),  # the question read back
    ("", False),
    ("Air scatters blue light. Hope this helps.", True),
    ("the sky is blue because of air", True),  # 3 words the prompt lacks: because, of, air
])
def test_says_something(text: str, answers: bool) -> None:
    assert says_something(QUOTING["prompt"], text) is answers


def test_an_answer_ranks_above_a_non_answer_that_meets_more_constraints() -> None:
    # The quoted phrase alone meets both constraints; the answer breaks one and still ranks first.
    answer, non_answer = "Air scatters blue light, mostly. Hope this helps.", "Hope this helps."
    assert satisfaction(QUOTING["constraints"], non_answer) == 1.0 > satisfaction(QUOTING["constraints"], answer)
    for seed in range(20):
        assert SimulatedLabeler(seed).rank(QUOTING, [non_answer, answer]) == [1, 0]
    assert SimulatedLabeler.compare(QUOTING, answer, non_answer) == 1.0


def _random_completions(rng: random.Random, k: int) -> list[str]:
    vocabulary = ["tea", "Tea", "hot", "cold", "is", "nice", "very", "-", "\n", ",", "."]
    return [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 9))) for _ in range(k)]


@pytest.mark.parametrize("k", range(2, 10))
def test_ranking_is_a_permutation_and_deterministic(k: int) -> None:
    rng = random.Random(k)
    for _ in range(20):
        completions = _random_completions(rng, k)
        ranking = SimulatedLabeler(seed=7, noise=0.3).rank(PROMPT, completions)
        assert sorted(ranking) == list(range(k))
        assert SimulatedLabeler(seed=7, noise=0.3).rank(PROMPT, completions) == ranking


def test_a_nearer_miss_ranks_above_a_far_one() -> None:
    prompt = {"id": "p", "prompt": "Answer in at most 3 words.", "constraints": [{"type": "max_words", "value": 3}]}
    # All break the limit and look finished; 4 words is a near miss, 9 a far one.
    assert SimulatedLabeler(0).rank(prompt, ["a b c d e f g h i.", "a b c d."]) == [1, 0]
    # Two answers equally far off (in steps of 0.1) are tied.
    record = SimulatedLabeler(0).label(prompt, ["a b c d.", "d c b a.", "a b c d e f g h i."])
    assert sorted(record["ranking"][0]) == [0, 1] and record["ranking"][1] == 2


def test_ties_depend_on_the_seed() -> None:
    # Four equally good answers.
    completions = ["hi there my friend.", "hello there my friend.", "hey there dear friend.", "hello you dear pal."]
    rankings = {tuple(SimulatedLabeler(seed).rank(PROMPT, completions)) for seed in range(20)}
    assert len(rankings) > 1


def test_noise_zero_never_inverts_and_noise_flips_some() -> None:
    rng = random.Random(0)
    changed = 0
    for _ in range(200):
        completions = _random_completions(rng, 4)
        clean = SimulatedLabeler(seed=1).rank(PROMPT, completions)
        scores = [(says_something(PROMPT["prompt"], text), satisfaction(PROMPT["constraints"], text))
                  for text in (completions[i] for i in clean)]
        assert scores == sorted(scores, reverse=True)
        changed += SimulatedLabeler(seed=1, noise=0.3).rank(PROMPT, completions) != clean
    assert 20 < changed < 200


def test_rank_needs_constraints() -> None:
    with pytest.raises(ValueError, match="no constraints"):
        SimulatedLabeler(0).rank({"id": "x", "prompt": "Say hi.", "constraints": []}, ["hi", "hello"])
    with pytest.raises(ValueError):
        SimulatedLabeler(0, noise=1.5)


def test_comparison_record_matches_the_human_format() -> None:
    completions = ["Hi There Dear Friend.", "hi there dear friend."]
    record = SimulatedLabeler(3).label(PROMPT, completions)
    assert record == {"prompt": PROMPT["prompt"], "completions": completions, "ranking": [1, 0]}
    with pytest.raises(ValueError, match="permutation"):
        comparison_record(PROMPT, ["a", "b", "c"], [0, 0, 1])
    with pytest.raises(ValueError, match="2 to 9"):
        comparison_record(PROMPT, ["a"], [0])
    with pytest.raises(ValueError, match="permutation"):
        comparison_record(PROMPT, ["a", "b"], [1, 2])


def test_label_ties_equally_good_completions() -> None:
    # Two answers are equally good (all met, finished); so are the two cut-off ones.
    completions = ["hi there my dear", "hi there my dear.", "Hello There, My Dear Old Friend Of Mine Today.",
                   "hi you my pal.", "hi you my pal"]
    for seed in range(20):
        record = SimulatedLabeler(seed).label(PROMPT, completions)
        assert record["completions"] == completions
        best, cut_off, worst = record["ranking"]
        assert sorted(best) == [1, 3] and sorted(cut_off) == [0, 4] and worst == 2


def test_label_without_a_preference_is_none() -> None:
    equally_good = ["hi there my friend.", "hi you my friend.", "hey there my friend."]
    assert SimulatedLabeler(0).label(PROMPT, equally_good) is None
    with pytest.raises(ValueError, match="no constraints"):
        SimulatedLabeler(0).label({"id": "x", "prompt": "Say hi.", "constraints": []}, ["hi", "hello"])


def test_labeler_interface_admits_other_labelers() -> None:
    class FirstIsBest(Labeler):
        def rank(self, prompt_record: dict, completions: list[str]) -> list[int]:
            return list(range(len(completions)))

    with pytest.raises(TypeError):
        Labeler()  # type: ignore[abstract]
    assert FirstIsBest().label(PROMPT, ["a", "b"])["ranking"] == [0, 1]
