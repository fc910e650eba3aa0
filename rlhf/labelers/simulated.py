"""A simulated labeler for the demo: ranks an answer above a non-answer (the prompt's own words
read back), then by how many of the prompt's verifiable constraints it satisfies, the way a
rubric-following human would, with optional disagreement.

Determinism: every call draws its randomness from a hash of (seed, prompt, completions), not from
a shared stream, so a given comparison gets the same label whatever was labelled before it — a
resumed job or a re-run evaluation reproduces its labels exactly.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import random
import re

from rlhf.labelers.base import Labeler, comparison_record
from rlhf.data.constraints import bullet_lines, distance, satisfaction, words

_FINISHED_ENDINGS = ".!?\"')]”’…*"


def looks_finished(text: str) -> bool:
    """Whether the answer ends like a finished thought: closing punctuation, or a bullet line (list
    items often carry no full stop). A generation cut off by the token limit usually does not."""
    stripped = text.rstrip()
    if not stripped:
        return False
    return stripped[-1] in _FINISHED_ENDINGS or bool(bullet_lines(stripped.splitlines()[-1]))


def repetition(text: str) -> float:
    """Fraction of word trigrams (case-folded) that repeat an earlier one: 0 for varied text, near
    1 for a degenerate loop — the failure small models fall into under RL pressure."""
    tokens = [token.lower() for token in words(text)]
    trigrams = [tuple(tokens[i:i + 3]) for i in range(len(tokens) - 2)]
    if not trigrams:
        return 0.0
    return 1.0 - len(set(trigrams)) / len(trigrams)


# Words an answer needs that its prompt lacks to say something.
MIN_NEW_WORDS = 3
_WORD = re.compile(r"[^\W_]+")  # punctuation aside: "helps." and "helps'." are one word


def says_something(prompt: str, text: str) -> bool:
    """Whether the answer has at least MIN_NEW_WORDS distinct words (case-folded, punctuation
    aside) that the prompt does not contain. Quoting the prompt's phrases back ("Hope this helps.",
    "in short.", "Avoid commas entirely.") meets start_with and end_with without answering; every
    demonstration says something, and a reader ranks an answer above any non-answer."""
    return len(set(_WORD.findall(text.casefold())) - set(_WORD.findall(prompt.casefold()))) >= MIN_NEW_WORDS


def quality_key(prompt_record: dict, text: str) -> tuple[bool, float, float, bool, float]:
    """Sort key, larger is better: an answer that says something (`says_something`) first; then
    the fraction of constraints satisfied; among equals the nearer miss (mean `distance` to meeting
    the constraints, in steps of 0.1: a reader tells 12 words over a limit from 2 over, not 12 from
    11), then a finished answer, then less repetition. Near misses rank above far ones as a careful
    human would rank them, and so most comparisons teach the reward model which way the
    constraints pull."""
    constraints = prompt_record["constraints"]
    miss = sum(distance(constraint, text) for constraint in constraints) / len(constraints)
    return (says_something(prompt_record["prompt"], text), satisfaction(constraints, text), -round(miss, 1),
            looks_finished(text), -repetition(text))


class SimulatedLabeler(Labeler):
    """Ranks by `quality_key`; exact ties are broken by a seeded shuffle in `rank`, and kept as ties
    in the comparison records `label` writes. With `noise` > 0 each adjacent pair of the ranking is
    swapped with that probability (one pass, best to worst), to mimic the disagreement between
    human labelers (InstructGPT reports ~73% agreement)."""

    def __init__(self, seed: int, noise: float = 0.0):
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise must be a probability in [0, 1], got {noise}")
        self.seed = seed
        self.noise = noise

    def _rng(self, prompt_record: dict, completions: list[str]) -> random.Random:
        payload = json.dumps([self.seed, prompt_record["prompt"], completions], ensure_ascii=False)
        return random.Random(hashlib.sha256(payload.encode()).digest())

    @staticmethod
    def can_judge(prompt_record: dict) -> bool:
        """Whether the prompt has constraints to judge by (a real prompt set often has none)."""
        return bool(prompt_record.get("constraints"))

    @staticmethod
    def compare(prompt_record: dict, a: str, b: str) -> float:
        """1.0 when `a` is better than `b`, 0.0 when worse, 0.5 for a tie (equal `quality_key`s):
        a win rate counts ties as half, without the seeded tie-break `rank` applies."""
        key_a, key_b = (quality_key(prompt_record, text) for text in (a, b))
        return 1.0 if key_a > key_b else 0.0 if key_a < key_b else 0.5

    def rank(self, prompt_record: dict, completions: list[str]) -> list[int]:
        """Indices of `completions`, best first. Raises ValueError if the record has no constraints
        (nothing verifiable to judge) or a constraint is unknown."""
        constraints = prompt_record.get("constraints") or []
        if not constraints:
            raise ValueError(f"prompt record {prompt_record.get('id', prompt_record.get('prompt'))!r} "
                             "has no constraints; the simulated labeler can only judge verifiable ones")
        rng = self._rng(prompt_record, completions)
        keys = [quality_key(prompt_record, text) for text in completions]
        order = list(range(len(completions)))
        rng.shuffle(order)
        order.sort(key=lambda index: keys[index], reverse=True)
        for position in range(len(order) - 1):
            if rng.random() < self.noise:
                order[position], order[position + 1] = order[position + 1], order[position]
        return order

    def label(self, prompt_record: dict, completions: list[str]) -> dict | None:
        """The comparison record of `completions`, equally good ones (equal `quality_key`s) tied in
        one entry of the ranking; None when all are equally good. A pair the rubric cannot tell apart
        carries no preference: ranked by a coin flip it would teach the reward model noise (over a
        third of the demo's sampled pairs are such ties) and cap its accuracy near 75%."""
        ranking = self.rank(prompt_record, completions)
        key = functools.partial(quality_key, prompt_record)
        tiers = [list(tier) for _, tier in itertools.groupby(ranking, key=lambda index: key(completions[index]))]
        if len(tiers) < 2:
            return None
        return comparison_record(prompt_record, completions, [tier[0] if len(tier) == 1 else tier for tier in tiers])
