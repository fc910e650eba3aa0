"""Bearer-token files, read the same way by the server that checks them (reward-kserve) and the
client that sends one (RewardScoringClient)."""

from __future__ import annotations


def read_tokens(text: str) -> list[str]:
    """The tokens of a tokens file: one per line, surrounding whitespace stripped; blank lines and
    lines starting with '#' are skipped."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]
