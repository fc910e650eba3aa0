"""gRPC channel and server options shared by both ends of the wire. Plain tuples: no grpc import."""

from __future__ import annotations


def channel_options(max_message_mb: int) -> list[tuple[str, int]]:
    """The largest message sent or received, in MiB; clients and servers set the same limit."""
    size = max_message_mb * 1024 * 1024
    return [("grpc.max_send_message_length", size), ("grpc.max_receive_message_length", size)]
