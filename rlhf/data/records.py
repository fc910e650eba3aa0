"""Typed JSONL record sets: parsing with line-numbered errors, deterministic resumable sampling,
and `RecordSets`, which keeps named sets as objects `records/<set>.jsonl` in an ObjectStore.

Record kinds (extra fields are kept, except one that resembles a field the kind reads: a typo such
as "constraint" for "constraints" would otherwise drop data silently):
  prompts         {"prompt": str, "constraints"?: [{"type", "value"?}, ...], "id"?: ...}
  demonstrations  {"prompt": str, "completion": str}
                  or {"messages": [{"role", "content"}, ...]}: the last (assistant) turn is the completion
  comparisons     {"prompt": str, "completions": [K strings, 2 <= K <= 9], "ranking": [indices, best first]};
                  a list inside "ranking" is a tie (equally good completions, e.g. [2, [0, 3], 1])
                  or {"prompt", "chosen", "rejected"}, stored as completions [chosen, rejected], ranking [0, 1];
                  human rankings (Label Studio) may add "labeler": str, "rating": 1..7 or null, "flags": [str]
  rollouts        {"step": int, "prompt": str, "completion": str, "reward": float}
  text            {"text": str}: pretraining text for PPO-ptx and the alignment tax
"""

from __future__ import annotations

import difflib
import enum
import hashlib
import json
import math
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from rlhf.data.constraints import check_constraint
from rlhf.storage import ObjectStore

MIN_K, MAX_K = 2, 9
MAX_SAMPLE = 100_000   # records per SampleRecords call: keeps a reply well under the message limit
_SET_NAME = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")


class RecordKind(str, enum.Enum):
    PROMPTS = "prompts"
    DEMONSTRATIONS = "demonstrations"
    COMPARISONS = "comparisons"
    ROLLOUTS = "rollouts"
    TEXT = "text"


class RecordError(ValueError):
    """A record set or a request about one is invalid; the message names the source, line and field."""


class RecordSetNotFound(FileNotFoundError):
    """No record set of that name (the service answers NOT_FOUND)."""


def _kind(kind: RecordKind | str) -> RecordKind:
    try:
        return RecordKind(kind)
    except ValueError:
        raise RecordError(f"kind {kind!r}: expected one of {', '.join(k.value for k in RecordKind)}") from None


def _string(record: dict, name: str, where: str, *, empty_ok: bool = False) -> str:
    if name not in record:
        raise RecordError(f"{where}: field '{name}' is missing")
    value = record[name]
    if not isinstance(value, str):
        raise RecordError(f"{where}: field '{name}' must be a string, got {type(value).__name__}")
    if not empty_ok and not value.strip():
        raise RecordError(f"{where}: field '{name}' is empty")
    return value


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _prompt(record: dict, where: str) -> dict:
    _string(record, "prompt", where)
    if "constraints" in record:
        constraints = record["constraints"]
        if not isinstance(constraints, list):
            raise RecordError(f"{where}: field 'constraints' must be a list, got {type(constraints).__name__}")
        for index, constraint in enumerate(constraints):
            try:
                check_constraint(constraint)
            except ValueError as exc:
                raise RecordError(f"{where}: field 'constraints[{index}]': {exc}") from None
    return record


CHAT_ROLES = ("system", "user", "assistant")


def _messages(messages: Any, where: str) -> None:
    """A chat-form demonstration: turns with a role and text, the last one the assistant's answer."""
    if not isinstance(messages, list) or len(messages) < 2:
        raise RecordError(f"{where}: field 'messages' must be a list of at least 2 turns (a user turn, then the "
                          "assistant's answer)")
    for index, turn in enumerate(messages):
        field_name = f"messages[{index}]"
        if not isinstance(turn, dict):
            raise RecordError(f"{where}: field '{field_name}' must be an object {{\"role\", \"content\"}}")
        if turn.get("role") not in CHAT_ROLES:
            raise RecordError(f"{where}: field '{field_name}.role' must be one of {', '.join(CHAT_ROLES)}, "
                              f"got {turn.get('role')!r}")
        if not isinstance(turn.get("content"), str):
            raise RecordError(f"{where}: field '{field_name}.content' must be a string")
    if messages[-1]["role"] != "assistant" or not messages[-1]["content"].strip():
        raise RecordError(f"{where}: field 'messages[{len(messages) - 1}]': the last turn must be the assistant's "
                          "(non-empty) answer: it is the completion SFT learns")
    if not any(turn["role"] == "user" for turn in messages[:-1]):
        raise RecordError(f"{where}: field 'messages': no user turn before the assistant's answer")


def _demonstration(record: dict, where: str) -> dict:
    if "messages" in record:
        mixed = [name for name in ("prompt", "completion") if name in record]
        if mixed:
            raise RecordError(f"{where}: field '{mixed[0]}' next to 'messages': give the chat form or "
                              "'prompt' and 'completion', not both")
        _messages(record["messages"], where)
        return record
    _string(record, "prompt", where)
    _string(record, "completion", where)
    return record


def split_demonstration(record: dict) -> tuple[str | list[dict], str]:
    """(prompt, completion) of a demonstration. In the chat form the last assistant turn is the
    completion and the turns before it are the prompt: a conversation that `format_prompt`
    renders with the model's chat template."""
    if "messages" in record:
        *turns, answer = record["messages"]
        return [{"role": t["role"], "content": t["content"]} for t in turns], answer["content"]
    return record["prompt"], record["completion"]


MIN_RATING, MAX_RATING = 1, 7  # the paper's Likert scale of a completion's overall quality


def _labeler_fields(record: dict, where: str) -> None:
    """Who ranked and what else they said (optional; the RM reads only the ranking)."""
    if "labeler" in record:
        _string(record, "labeler", where)
    rating = record.get("rating")
    if rating is not None and (not _integer(rating) or not MIN_RATING <= rating <= MAX_RATING):
        raise RecordError(f"{where}: field 'rating' must be an integer {MIN_RATING}..{MAX_RATING} or null, got {rating!r}")
    flags = record.get("flags", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise RecordError(f"{where}: field 'flags' must be a list of strings")


def _comparison(record: dict, where: str) -> dict:
    _string(record, "prompt", where)
    _labeler_fields(record, where)
    pairwise = [name for name in ("chosen", "rejected") if name in record]
    if pairwise:
        kway = [name for name in ("completions", "ranking") if name in record]
        if kway:
            raise RecordError(f"{where}: field '{pairwise[0]}' next to '{kway[0]}': a comparison is K-way "
                              "('completions' + 'ranking') or pairwise ('chosen' + 'rejected'), not both")
        chosen = _string(record, "chosen", where, empty_ok=True)
        rejected = _string(record, "rejected", where, empty_ok=True)
        if chosen == rejected:
            raise RecordError(f"{where}: fields 'chosen' and 'rejected' are the same text: nothing to learn from")
        rest = {k: v for k, v in record.items() if k not in ("chosen", "rejected")}
        return {**rest, "completions": [chosen, rejected], "ranking": [0, 1]}
    if "completions" not in record:
        raise RecordError(f"{where}: field 'completions' is missing (or give 'chosen' and 'rejected')")
    completions = record["completions"]
    if not isinstance(completions, list) or not all(isinstance(c, str) for c in completions):
        raise RecordError(f"{where}: field 'completions' must be a list of strings")
    k = len(completions)
    if not MIN_K <= k <= MAX_K:
        raise RecordError(f"{where}: field 'completions' holds {k} completions; a comparison ranks {MIN_K} to {MAX_K}")
    if "ranking" not in record:
        raise RecordError(f"{where}: field 'ranking' is missing")
    ranking = record["ranking"]
    tiers = [entry if isinstance(entry, list) else [entry] for entry in ranking] if isinstance(ranking, list) else []
    flat = [index for tier in tiers for index in tier]
    if not tiers or not all(_integer(i) for i in flat) or sorted(flat) != list(range(k)) or \
            any(isinstance(entry, list) and len(entry) < 2 for entry in ranking):
        raise RecordError(f"{where}: field 'ranking' must be a permutation of 0..{k - 1}, best first (a list inside it "
                          f"groups 2 or more equally good completions), got {ranking!r}")
    if len(tiers) < 2:
        raise RecordError(f"{where}: field 'ranking' ties every completion: no preference to learn from")
    return record


def _rollout(record: dict, where: str) -> dict:
    if "step" not in record:
        raise RecordError(f"{where}: field 'step' is missing")
    if not _integer(record["step"]) or record["step"] < 0:
        raise RecordError(f"{where}: field 'step' must be a non-negative integer, got {record['step']!r}")
    _string(record, "prompt", where)
    _string(record, "completion", where, empty_ok=True)
    if "reward" not in record:
        raise RecordError(f"{where}: field 'reward' is missing")
    reward = record["reward"]
    if isinstance(reward, bool) or not isinstance(reward, (int, float)) or not math.isfinite(reward):
        raise RecordError(f"{where}: field 'reward' must be a finite number, got {reward!r}")
    return {**record, "reward": float(reward)}


def _text(record: dict, where: str) -> dict:
    _string(record, "text", where)
    return record


_VALIDATORS = {
    RecordKind.PROMPTS: _prompt,
    RecordKind.DEMONSTRATIONS: _demonstration,
    RecordKind.COMPARISONS: _comparison,
    RecordKind.ROLLOUTS: _rollout,
    RecordKind.TEXT: _text,
}


# The fields each kind reads. An extra field within a typo of one of them is refused, not kept.
_READ_FIELDS = {
    RecordKind.PROMPTS: ("prompt", "constraints"),
    RecordKind.DEMONSTRATIONS: ("prompt", "completion", "messages"),
    RecordKind.COMPARISONS: ("prompt", "completions", "ranking", "chosen", "rejected", "labeler", "rating", "flags"),
    RecordKind.ROLLOUTS: ("step", "prompt", "completion", "reward"),
    RecordKind.TEXT: ("text",),
}


def validate(record: Any, kind: RecordKind | str, where: str = "record") -> dict:
    """Checks one record of `kind` and returns its normal form (pairwise comparisons become K=2)."""
    kind = _kind(kind)
    if not isinstance(record, dict):
        raise RecordError(f"{where}: expected a JSON object, got {type(record).__name__}")
    read = _READ_FIELDS[kind]
    for name in record:
        close = [] if name in read else difflib.get_close_matches(name, read, n=1, cutoff=0.8)
        if close:
            raise RecordError(f"{where}: unknown field '{name}' (did you mean '{close[0]}'?)")
    return _VALIDATORS[kind](record, where)


def parse_jsonl(data: bytes | str, kind: RecordKind | str, source: str = "jsonl") -> list[dict]:
    """Parses and validates JSON Lines of `kind`; blank lines are skipped. The first bad line
    raises RecordError naming `source`, the 1-based line number and the field."""
    kind = _kind(kind)
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise RecordError(f"{source} line {line}: not valid UTF-8 (byte {exc.start})") from None
    data = data.removeprefix("\ufeff")  # a UTF-8 byte-order mark, as some editors write
    records = []
    # Split on "\n" only: str.splitlines would also split inside strings holding U+2028 and friends.
    for number, line in enumerate(data.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{source} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecordError(f"{where}: not valid JSON: {exc.msg} (column {exc.colno})") from None
        except RecursionError:
            raise RecordError(f"{where}: nested too deeply to parse") from None
        records.append(validate(record, kind, where))
    return records


def load_jsonl(path: str | Path, kind: RecordKind | str) -> list[dict]:
    """Parses a local JSONL file; errors name the file's path and line."""
    return parse_jsonl(Path(path).read_bytes(), kind, source=str(path))


def dump_jsonl(records: list[dict]) -> bytes:
    """One compact JSON object per line. ASCII-escaped, so any line splitter reads it back."""
    return b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)


def _epoch_order(size: int, seed: int, epoch: int) -> np.ndarray:
    # PCG64 seeded through SeedSequence([seed, epoch]) gives the same permutation on every machine.
    return np.random.Generator(np.random.PCG64([seed, epoch])).permutation(size)


def sample(records_count: int, n: int, seed: int, cursor: int) -> tuple[list[int], int]:
    """Indices at positions cursor .. cursor+n-1 of the stream under `seed`, and the next cursor.

    The stream is epoch after epoch, each a permutation of range(records_count) seeded by
    (seed, epoch), so every record appears once per epoch and sampling n then m from the returned
    cursor equals sampling n + m.
    """
    if records_count <= 0:
        raise RecordError("set: has no records to sample")
    if n < 0 or cursor < 0 or seed < 0:
        raise RecordError("n, seed and cursor must be non-negative")
    indices: list[int] = []
    position = cursor
    while len(indices) < n:
        epoch, offset = divmod(position, records_count)
        take = min(n - len(indices), records_count - offset)
        indices.extend(_epoch_order(records_count, seed, epoch)[offset:offset + take].tolist())
        position += take
    return indices, position


def check_set_name(name: str) -> str:
    if not name:
        raise RecordError("set: must not be empty")
    if not _SET_NAME.fullmatch(name) or any(part.startswith(".") for part in name.split("/")):
        raise RecordError(f"set {name!r}: use letters, digits, '_', '-', '.' and '/' between non-hidden parts")
    return name


class RecordSets:
    """Named record sets kept as objects `records/<set>.jsonl` (kind in the object's metadata).

    Writes validate every line before anything is stored. Parsed sets are cached by the object's
    sha256, so sampling reads a set from the store only after it changes.
    """

    def __init__(self, store: ObjectStore, cache_size: int = 16):
        self.store = store
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[RecordKind, list[dict]]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._write_lock = threading.Lock()  # appends read, extend and rewrite a set

    @staticmethod
    def key(name: str) -> str:
        return f"records/{check_set_name(name)}.jsonl"

    def put(self, name: str, kind: RecordKind | str, data: bytes | str, append: bool = False) -> int:
        """Stores (or appends to) a set; returns the number of records in it afterwards."""
        key, kind = self.key(name), _kind(kind)
        records = parse_jsonl(data, kind, source="jsonl")
        if not records:
            raise RecordError("jsonl: holds no records")
        with self._write_lock:
            if append:
                try:
                    old_kind, old = self.load(name)
                except RecordSetNotFound:  # no such set yet: appending creates it
                    old_kind, old = kind, []
                if old_kind != kind:
                    raise RecordError(f"kind: set {name!r} holds {old_kind.value}, cannot append {kind.value}")
                records = old + records
            data = dump_jsonl(records)
            info = self.store.put_bytes(key, data, metadata={"kind": kind.value, "count": str(len(records))})
        self._remember(info.sha256, kind, records)
        return len(records)

    def load(self, name: str) -> tuple[RecordKind, list[dict]]:
        """A set's kind and records; RecordSetNotFound naming the set if there is none."""
        key = self.key(name)
        try:
            info = self.store.stat(key)
        except FileNotFoundError:
            raise RecordSetNotFound(f"set {name!r}: no such record set") from None
        with self._cache_lock:
            if info.sha256 in self._cache:
                self._cache.move_to_end(info.sha256)
                return self._cache[info.sha256]
        try:
            data = self.store.get_bytes(key)
        except FileNotFoundError:  # deleted since the stat
            raise RecordSetNotFound(f"set {name!r}: no such record set") from None
        if info.metadata.get("kind") not in {k.value for k in RecordKind}:
            raise RecordError(f"set {name!r}: {key} carries no record kind in its metadata")
        kind = RecordKind(info.metadata["kind"])
        records = parse_jsonl(data, kind, source=key)
        # Key by the bytes actually read: the object may have been replaced after the stat.
        self._remember(hashlib.sha256(data).hexdigest(), kind, records)
        return kind, records

    def sample(self, name: str, n: int, seed: int, cursor: int) -> tuple[list[dict], int, int, RecordKind]:
        """(records, next_cursor, set size, kind) for positions cursor .. cursor+n-1 under `seed`."""
        if not 1 <= n <= MAX_SAMPLE:
            raise RecordError(f"n: {n} records asked; ask for 1 to {MAX_SAMPLE} at a time")
        kind, records = self.load(name)
        indices, next_cursor = sample(len(records), n, seed, cursor)
        return [records[i] for i in indices], next_cursor, len(records), kind

    def _remember(self, sha256: str, kind: RecordKind, records: list[dict]) -> None:
        with self._cache_lock:
            self._cache[sha256] = (kind, records)
            self._cache.move_to_end(sha256)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
