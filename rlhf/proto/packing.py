"""Conversions between the wire's encodings and library values: ragged token-id and per-token
float batches packed into little-endian bytes, and record kinds.

Every unpack validates what it reads and raises PackingError naming the offending field; the
services' runtime answers it INVALID_ARGUMENT, so a servicer needs no try/except of its own.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from rlhf.data.records import RecordKind
from rlhf.proto.v1 import common_pb2, data_store_pb2

_INT = np.dtype("<i4")
_FLOAT = np.dtype("<f4")
_RECORD_KINDS = ", ".join(kind.value for kind in RecordKind)


class PackingError(ValueError):
    """Malformed wire data; the message starts with the field's name."""


def pack_tokens(sequences: Sequence[Sequence[int]]) -> common_pb2.TokenBatch:
    arrays = [np.asarray(s, dtype=_INT).reshape(-1) for s in sequences]
    data = np.concatenate(arrays).tobytes() if arrays else b""
    return common_pb2.TokenBatch(ids=data, lengths=[len(a) for a in arrays])


def pack_floats(sequences: Sequence[Sequence[float]]) -> common_pb2.FloatBatch:
    arrays = [np.asarray(s, dtype=_FLOAT).reshape(-1) for s in sequences]
    data = np.concatenate(arrays).tobytes() if arrays else b""
    return common_pb2.FloatBatch(values=data, lengths=[len(a) for a in arrays])


def _unpack(data: bytes, lengths: Sequence[int], dtype: np.dtype, field: str) -> list[np.ndarray]:
    if len(data) % dtype.itemsize:
        raise PackingError(f"{field}: {len(data)} bytes is not a whole number of {dtype.itemsize}-byte values")
    flat = np.frombuffer(data, dtype=dtype)
    if sum(lengths) != flat.size:
        raise PackingError(f"{field}: lengths add up to {sum(lengths)} values but the bytes hold {flat.size}")
    bounds = np.cumsum([0, *lengths])
    return [flat[bounds[i]:bounds[i + 1]] for i in range(len(lengths))]


def unpack_tokens(batch: common_pb2.TokenBatch, field: str = "ids") -> list[np.ndarray]:
    """Returns one int32 array per sequence; raises PackingError naming `field` on malformed bytes."""
    return _unpack(batch.ids, batch.lengths, _INT, field)


def unpack_floats(batch: common_pb2.FloatBatch, field: str = "values") -> list[np.ndarray]:
    """Returns one float32 array per sequence; raises PackingError naming `field` on malformed bytes."""
    return _unpack(batch.values, batch.lengths, _FLOAT, field)


def pack_record_kind(kind: RecordKind | str) -> int:
    """The wire enum value of a record kind ("prompts" or RecordKind.PROMPTS -> RECORD_KIND_PROMPTS);
    raises PackingError naming `kind` for anything else."""
    try:
        kind = RecordKind(kind)
    except ValueError:
        raise PackingError(f"kind {kind!r}: expected one of {_RECORD_KINDS}") from None
    return data_store_pb2.RecordKind.Value(f"RECORD_KIND_{kind.name}")


def unpack_record_kind(value: int, field: str = "kind") -> RecordKind:
    """The record kind of a wire enum value; raises PackingError naming `field` for UNSPECIFIED
    (the default, so a request that did not set it) or a value this version does not know."""
    name = data_store_pb2.RecordKind.Name(value) if value in data_store_pb2.RecordKind.values() else ""
    try:
        return RecordKind[name.removeprefix("RECORD_KIND_")]
    except KeyError:
        raise PackingError(f"{field}: {value} is not a record kind; use one of "
                           f"{', '.join('RECORD_KIND_' + kind.name for kind in RecordKind)}") from None
