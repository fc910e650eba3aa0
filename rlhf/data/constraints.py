"""Verifiable instruction constraints, checked the way a careful human labeler would check them.

The demo replaces human labelers with these rules, so each rule must mean what the prompt says in
words ("in at most 30 words", "exactly 3 bullet points", "end your answer with 'Good luck!'").
A constraint is a dict: `{"type": <one of CONSTRAINT_TYPES>, "value": ...}`; `value` is an int for
the counting types, a non-empty string for the word and phrase types, and absent otherwise.

Rules shared by every checker:
- A *word* is a whitespace-separated token that contains at least one letter or digit, so a "-"
  bullet marker or a lone "—" is not a word, and "don't", "3.5" and "well-known" are one word each.
- An answer with no words satisfies no constraint: an empty answer is not "under 30 words" or
  "all lowercase" to a human, and a policy must not learn that silence pays.
- Words and phrases are compared ignoring case and runs of whitespace, as a reader would.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

_HAS_LETTER_OR_DIGIT = re.compile(r"[^\W_]")
_BULLET_LINE = re.compile(r"^\s*[-*•]\s+\S")
# A run of "!", "?" or one "." (an ellipsis "..." does not end a sentence), then whitespace or the end.
_SENTENCE_END = re.compile(r"(?<![.!?])(?:[!?][.!?]*|\.(?:[!?][.!?]*)?)(?=\s|$)")
# Closing punctuation a reader ignores when asked "end with 'X'", and opening quotes for "start with".
_TRAILING_NOISE = ".!?;:,\"'”’)]*_… \t\n"
_LEADING_NOISE = "\"'“‘ \t\n"


def words(text: str) -> list[str]:
    """The words of `text`: whitespace-separated tokens containing a letter or digit."""
    return [token for token in text.split() if _HAS_LETTER_OR_DIGIT.search(token)]


def sentences(text: str) -> list[str]:
    """The sentences of `text`: a sentence ends at '.', '!' or '?' (or a run such as "?!") followed
    by whitespace or the end of the text; an ellipsis "..." does not end one, and trailing text
    without a terminator is a sentence too. Pieces with no
    word (a stray "...") are not sentences. Abbreviations such as "e.g. " do split, as they would
    for a hurried reader; the demo data avoids them."""
    pieces = _SENTENCE_END.split(text)
    return [piece.strip() for piece in pieces if words(piece)]


def bullet_lines(text: str) -> list[str]:
    """Lines that are bullet points: optional indentation, then '-', '*' or '•', whitespace, and
    some content. "**bold**" is not a bullet (no whitespace after the marker)."""
    return [line for line in text.splitlines() if _BULLET_LINE.match(line)]


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive match of `phrase`, any whitespace between its words."""
    body = r"\s+".join(re.escape(part) for part in phrase.split())
    return re.compile(rf"(?<![^\W_]){body}(?![^\W_])", re.IGNORECASE)


def _is_word_boundary(text: str, index: int) -> bool:
    """True when position `index` of `text` does not split a word (the edge of the text counts)."""
    return index <= 0 or index >= len(text) or not (text[index - 1].isalnum() and text[index].isalnum())


def _int_value(constraint: dict) -> int:
    value = constraint.get("value")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"constraint {constraint.get('type')!r} needs a non-negative int 'value', got {value!r}")
    return value


def _str_value(constraint: dict) -> str:
    value = constraint.get("value")
    if not isinstance(value, str) or not words(value):
        raise ValueError(f"constraint {constraint.get('type')!r} needs a non-empty string 'value', got {value!r}")
    return value


def _max_words(constraint: dict, text: str) -> bool:
    """At most N words ("in at most N words", "N words or fewer")."""
    return len(words(text)) <= _int_value(constraint)


def _min_words(constraint: dict, text: str) -> bool:
    """At least N words."""
    return len(words(text)) >= _int_value(constraint)


def _bullet_count(constraint: dict, text: str) -> bool:
    """Exactly N bullet lines (see `bullet_lines`); other lines, such as an intro, are allowed."""
    return len(bullet_lines(text)) == _int_value(constraint)


def _sentence_count(constraint: dict, text: str) -> bool:
    """Exactly N sentences (see `sentences`)."""
    return len(sentences(text)) == _int_value(constraint)


def _lowercase(constraint: dict, text: str) -> bool:
    """No uppercase letter anywhere; digits and punctuation are fine."""
    return not any(char.isupper() for char in text)


def _uppercase(constraint: dict, text: str) -> bool:
    """No lowercase letter anywhere; digits and punctuation are fine."""
    return not any(char.islower() for char in text)


def _include_word(constraint: dict, text: str) -> bool:
    """The word (or phrase) appears as a whole word, any case: 'cat' is in "The CAT's bowl" but
    not in "category" or "cats"."""
    return _phrase_pattern(_str_value(constraint)).search(text) is not None


def _exclude_word(constraint: dict, text: str) -> bool:
    """The word (or phrase) never appears as a whole word, any case (the opposite of include_word)."""
    return _phrase_pattern(_str_value(constraint)).search(text) is None


def _start_with(constraint: dict, text: str) -> bool:
    """After leading whitespace and opening quotes, the answer begins with the phrase (any case,
    any whitespace) and the phrase does not stop mid-word: 'Sure' matches "sure, ..." but not
    "Surely"."""
    phrase = _normalise(_str_value(constraint))
    body = _normalise(text.lstrip(_LEADING_NOISE))
    return body.startswith(phrase) and _is_word_boundary(body, len(phrase))


def _end_with(constraint: dict, text: str) -> bool:
    """Ignoring closing punctuation, quotes and whitespace on both sides, the answer ends with the
    phrase (any case, any whitespace) starting at a word boundary: 'Good luck!' matches
    "... good luck." but 'luck' does not match "... pluck"."""
    phrase = _normalise(_str_value(constraint)).rstrip(_TRAILING_NOISE)
    body = _normalise(text).rstrip(_TRAILING_NOISE)
    return body.endswith(phrase) and _is_word_boundary(body, len(body) - len(phrase))


def _no_commas(constraint: dict, text: str) -> bool:
    """No comma, ASCII or full-width."""
    return "," not in text and "，" not in text


_CHECKERS: dict[str, Callable[[dict, str], bool]] = {
    "max_words": _max_words,
    "min_words": _min_words,
    "bullet_count": _bullet_count,
    "sentence_count": _sentence_count,
    "lowercase": _lowercase,
    "uppercase": _uppercase,
    "include_word": _include_word,
    "exclude_word": _exclude_word,
    "start_with": _start_with,
    "end_with": _end_with,
    "no_commas": _no_commas,
}
CONSTRAINT_TYPES: frozenset[str] = frozenset(_CHECKERS)


def check(constraint: dict, text: str) -> bool:
    """Whether `text` satisfies `constraint`. Raises ValueError for an unknown type or a malformed
    value even when the text is empty, so a bad prompt record fails loudly rather than scoring 0."""
    kind = constraint.get("type")
    checker = _CHECKERS.get(kind)
    if checker is None:
        raise ValueError(f"unknown constraint type {kind!r}; known types: {', '.join(sorted(_CHECKERS))}")
    satisfied = checker(constraint, text)
    return satisfied and bool(words(text))


def check_constraint(constraint: object) -> None:
    """Raises ValueError unless `constraint` is an object of a known type with a well-formed value:
    the checks `check` makes, without a text (prompt records are validated with it at import)."""
    if not isinstance(constraint, dict):
        raise ValueError(f"a constraint is an object {{\"type\", \"value\"}}, got {type(constraint).__name__}")
    check(constraint, "")


def _share(count: int) -> float:
    """0 for none, then towards 1 for more: one forbidden word (or comma) is half way, three are 3/4."""
    return count / (count + 1)


def _phrase_words_matched(phrase: str, body: list[str], from_end: bool) -> int:
    """How many of the phrase's words, from its start (or end), the text's first (or last) words
    match, ignoring case and the punctuation a reader ignores."""
    wanted = [word.strip(_TRAILING_NOISE + _LEADING_NOISE) for word in phrase.lower().split()]
    found = [word.lower().strip(_TRAILING_NOISE + _LEADING_NOISE) for word in body]
    if from_end:
        wanted, found = wanted[::-1], found[::-1]
    matched = 0
    while matched < min(len(wanted), len(found)) and wanted[matched] == found[matched]:
        matched += 1
    return matched


def _relative_gap(have: int, want: int) -> float:
    return min(1.0, abs(have - want) / max(want, 1))


def distance(constraint: dict, text: str) -> float:
    """How far `text` is from meeting `constraint`: 0 when `check` holds, else in (0, 1], the part of
    the way still to go as a careful reader sees it. 40 words against "at most 30" is 1/3 off, 4
    bullets for "exactly 3" 1/3, two capitals among 20 letters for "lowercase" 1/10, one forbidden
    word or comma 1/2 (two 2/3), a phrase to start or end with by the share of its words missing,
    a missing word 1. An answer with no words is 1 off everything."""
    if check(constraint, text):
        return 0.0
    if not words(text):
        return 1.0
    kind = constraint["type"]
    letters = [char for char in text if char.isalpha()]
    if kind in ("max_words", "min_words"):
        return _relative_gap(len(words(text)), _int_value(constraint))
    if kind == "bullet_count":
        return _relative_gap(len(bullet_lines(text)), _int_value(constraint))
    if kind == "sentence_count":
        return _relative_gap(len(sentences(text)), _int_value(constraint))
    if kind == "lowercase":
        return sum(char.isupper() for char in letters) / len(letters)
    if kind == "uppercase":
        return sum(char.islower() for char in letters) / len(letters)
    if kind == "exclude_word":
        return _share(len(_phrase_pattern(_str_value(constraint)).findall(text)))
    if kind == "no_commas":
        return _share(text.count(",") + text.count("，"))
    if kind in ("start_with", "end_with"):
        phrase = _str_value(constraint)
        matched = _phrase_words_matched(phrase, text.split(), from_end=kind == "end_with")
        return 1.0 - matched / (len(phrase.split()) + 1)
    return 1.0  # include_word: there or not


def satisfaction(constraints: Iterable[dict], text: str) -> float:
    """Fraction of `constraints` that `text` satisfies, in [0, 1]. An empty list raises ValueError:
    with nothing to verify there is no score, and a silent 1.0 would hide a missing field."""
    results = [check(constraint, text) for constraint in constraints]
    if not results:
        raise ValueError("no constraints to check: a prompt record needs at least one")
    return sum(results) / len(results)
