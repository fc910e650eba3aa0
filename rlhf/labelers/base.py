"""Who ranks completions: the interface every labeler implements, and the comparison record it
produces.

The reward model only ever sees comparison records, so a simulated labeler (the demo) and human
labelers (a file-based or web queue later) are interchangeable behind `Labeler.rank`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from rlhf.data.records import RecordKind, validate


def comparison_record(prompt_record: dict, completions: list[str], ranking: list[int]) -> dict:
    """`{"prompt", "completions", "ranking"}`: the reward-model training record (DESIGN.md §1),
    identical whoever labelled it. `prompt` is the instruction text; `ranking` lists indices into
    `completions`, best first. Checked by the record rules every stored comparison obeys (a
    labeler that drops or repeats a completion would corrupt the C(K,2) pairs the RM trains on)."""
    record = {"prompt": prompt_record["prompt"], "completions": list(completions), "ranking": list(ranking)}
    return validate(record, RecordKind.COMPARISONS, "comparison")


class Labeler(ABC):
    """Ranks K completions of one prompt, best first."""

    @abstractmethod
    def rank(self, prompt_record: dict, completions: list[str]) -> list[int]:
        """Indices into `completions`, best first; a permutation of range(len(completions)).
        `prompt_record` is a prompt record (`{"id", "prompt", "constraints"}`)."""

    def label(self, prompt_record: dict, completions: list[str]) -> dict | None:
        """Rank `completions` and return the comparison record, validated; a labeler may return None
        when it prefers none of them to another (nothing for the reward model to learn)."""
        return comparison_record(prompt_record, completions, self.rank(prompt_record, completions))
