"""`rlhf data import`: record sets from JSONL files or the bundled demo into the data-store.

A set's kind comes from its first path segment (`prompts/...`, `demonstrations...`,
`comparisons/...`, `general/...` or `text/...`) unless given explicitly. Every file of one import
is read and validated before any set is stored, so one bad file stores nothing; errors name the
file, the record set, the line and the field.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rlhf.data.records import RecordError, RecordKind, check_set_name, parse_jsonl
from rlhf.storage import read_uri
from rlhf.storage.dirs import is_uri

# record set -> bundled demo file
DEMO_SETS = {
    "prompts/train": "prompts_train.jsonl",
    "prompts/validation": "prompts_validation.jsonl",
    "prompts/heldout": "prompts_heldout.jsonl",
    "demonstrations": "demonstrations.jsonl",
    "general/train": "general_train.jsonl",
    "general/heldout": "general_heldout.jsonl",
}
KIND_OF_PREFIX = {
    "prompts": RecordKind.PROMPTS,
    "demonstrations": RecordKind.DEMONSTRATIONS,
    "comparisons": RecordKind.COMPARISONS,
    "general": RecordKind.TEXT,
    "text": RecordKind.TEXT,
}


def set_kind(record_set: str, kind: str | None = None) -> RecordKind:
    """The kind of `record_set`: `kind` when given, else the one its first path segment names."""
    check_set_name(record_set)
    if kind:
        try:
            return RecordKind(kind)
        except ValueError:
            raise RecordError(f"--kind {kind}: expected one of {', '.join(k.value for k in RecordKind)}") from None
    prefix = record_set.split("/", 1)[0]
    if prefix not in KIND_OF_PREFIX:
        raise RecordError(f"record set {record_set!r}: its kind comes from its first path segment, one of "
                          f"{', '.join(p + '/...' for p in KIND_OF_PREFIX)}; or pass --kind")
    return KIND_OF_PREFIX[prefix]


def read_source(record_set: str, source: str) -> bytes:
    """The bytes of `source`: "demo" (the bundled set of that name), a store URI (s3://BUCKET/KEY,
    file:///PATH) or a local path."""
    if source == "demo":
        if record_set not in DEMO_SETS:
            raise RecordError(f"record set {record_set!r}: no bundled demo set of that name "
                              f"(demo sets: {', '.join(DEMO_SETS)})")
        return (resources.files("rlhf.data") / "demo" / DEMO_SETS[record_set]).read_bytes()
    try:
        return read_uri(source) if is_uri(source) else Path(source).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise FileNotFoundError(f"{source} (record set {record_set}): no such file") from None


def import_data(store, sources: dict[str, str], kind: str | None = None) -> dict[str, int]:
    """Loads record sets into the data-store (a DataStoreClient): record set -> source (see
    `read_source`). Validates every source first; returns each set's record count."""
    parsed = {}
    for record_set, source in sources.items():
        set_kind_ = set_kind(record_set, kind)
        where = f"{source} (record set {record_set})"
        records = parse_jsonl(read_source(record_set, source), set_kind_, source=where)
        if not records:
            raise RecordError(f"{where}: holds no records")
        parsed[record_set] = (set_kind_, records, source)
    counts = {}
    for record_set, (set_kind_, records, source) in parsed.items():
        counts[record_set] = store.put_records(record_set, set_kind_, records)
        print(f"data: {record_set}: {counts[record_set]} {set_kind_.value} records from {source}", flush=True)
    return counts


def parse_sources(items: list[str]) -> dict[str, str]:
    """`RECORD_SET=SOURCE` arguments as a dict (a later one for the same set wins)."""
    sources = {}
    for item in items:
        record_set, sep, source = item.partition("=")
        if not sep or not record_set or not source:
            raise ValueError(f"{item!r}: expected RECORD_SET=SOURCE (SOURCE: demo, a store URI or a path)")
        sources[record_set] = source
    return sources
