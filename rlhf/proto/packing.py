"""Packing of ragged token-id and per-token float batches into the wire's little-endian bytes.

Every unpack validates shapes and names the offending field, so a service can turn the ValueError
straight into INVALID_ARGUMENT.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from rlhf.proto.v1 import common_pb2

_INT = np.dtype("<i4")
_FLOAT = np.dtype("<f4")


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
        raise ValueError(f"{field}: {len(data)} bytes is not a whole number of {dtype.itemsize}-byte values")
    flat = np.frombuffer(data, dtype=dtype)
    if sum(lengths) != flat.size:
        raise ValueError(f"{field}: lengths add up to {sum(lengths)} values but the bytes hold {flat.size}")
    bounds = np.cumsum([0, *lengths])
    return [flat[bounds[i]:bounds[i + 1]] for i in range(len(lengths))]


def unpack_tokens(batch: common_pb2.TokenBatch, field: str = "ids") -> list[np.ndarray]:
    """Returns one int32 array per sequence; raises ValueError naming `field` on malformed bytes."""
    return _unpack(batch.ids, batch.lengths, _INT, field)


def unpack_floats(batch: common_pb2.FloatBatch, field: str = "values") -> list[np.ndarray]:
    """Returns one float32 array per sequence; raises ValueError naming `field` on malformed bytes."""
    return _unpack(batch.values, batch.lengths, _FLOAT, field)
