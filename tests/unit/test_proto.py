"""The committed stubs are what `make protos` generates today, and packing round-trips."""

import numpy as np
import pytest

from rlhf.data.records import RecordKind
from rlhf.proto import generate
from rlhf.proto.packing import (PackingError, pack_floats, pack_record_kind, pack_tokens, unpack_floats,
                                unpack_record_kind, unpack_tokens)
from rlhf.proto.v1 import common_pb2, data_store_pb2


def test_committed_stubs_match_protos_byte_for_byte():
    committed = {p.name: p.read_text() for p in generate.OUT_DIR.glob("*.py*")}
    assert committed == generate.generate(), "rlhf/proto/v1 is stale: run `make protos`"


def test_packing_round_trips_ragged_batches():
    seqs = [[1, 2, 3], [], [49151]]
    assert [a.tolist() for a in unpack_tokens(pack_tokens(seqs))] == seqs
    floats = [[0.5, -1.25], [3.0]]
    assert [a.tolist() for a in unpack_floats(pack_floats(floats))] == floats
    # Little-endian int32 on the wire, whatever the host.
    assert pack_tokens([[1, 256]]).ids == b"\x01\x00\x00\x00\x00\x01\x00\x00"


@pytest.mark.parametrize("batch, message", [
    (common_pb2.TokenBatch(ids=b"\x01\x00\x00", lengths=[1]), "3 bytes is not a whole number"),
    (common_pb2.TokenBatch(ids=np.arange(3, dtype="<i4").tobytes(), lengths=[2]), "lengths add up to 2"),
])
def test_malformed_token_bytes_name_the_field(batch, message):
    with pytest.raises(ValueError, match=f"prompt_ids: {message}"):
        unpack_tokens(batch, "prompt_ids")
    with pytest.raises(PackingError):  # what the services' runtime answers INVALID_ARGUMENT
        unpack_tokens(batch, "prompt_ids")


def test_record_kinds_round_trip_and_refuse_unspecified():
    for kind in RecordKind:
        assert data_store_pb2.RecordKind.Name(pack_record_kind(kind.value)) == f"RECORD_KIND_{kind.name}"
        assert unpack_record_kind(pack_record_kind(kind)) is kind
    for kind in ("unspecified", "PROMPTS", "texts"):
        with pytest.raises(PackingError, match=f"kind {kind!r}: expected one of prompts, demonstrations, "
                                               "comparisons, rollouts, text"):
            pack_record_kind(kind)
    for value in (data_store_pb2.RECORD_KIND_UNSPECIFIED, 99):
        with pytest.raises(PackingError, match=f"kind: {value} is not a record kind; use one of RECORD_KIND_PROMPTS"):
            unpack_record_kind(value)
