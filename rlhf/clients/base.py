"""What every typed client shares: a channel with message limits, a deadline on every call,
retries with exponential backoff on UNAVAILABLE / DEADLINE_EXCEEDED only (UNAVAILABLE only for
calls that are not idempotent), and errors that say which service, which RPC, and why."""

from __future__ import annotations

import os
import random
import time
from typing import Any, Callable, Iterable, Iterator

import grpc

from rlhf.auth_tokens import read_tokens
from rlhf.proto.channel import channel_options
from rlhf.proto.v1 import common_pb2

RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
RETRYABLE_NOT_IDEMPOTENT = (grpc.StatusCode.UNAVAILABLE,)
"""A call that changes the server's state (a weight push) may have taken effect when its deadline
passed: sending it again could apply it twice, or fail on the state the first attempt left (a
weights version no longer above the one serving). Such calls are retried only when the server
could not be reached."""


class ServiceError(RuntimeError):
    """A call failed after its retries; `code` is the gRPC status code."""

    def __init__(self, service: str, rpc: str, target: str, code: grpc.StatusCode, details: str):
        self.service, self.rpc, self.target, self.code, self.details = service, rpc, target, code, details
        super().__init__(f"{service}.{rpc} at {target} failed: {code.name}: {details}")


def read_env_file(variable: str) -> bytes | None:
    """The bytes of the file that environment variable `variable` names; None when it is unset."""
    path = os.environ.get(variable)
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise FileNotFoundError(f"{variable}={path}: cannot read: {exc.strerror}") from None


class BaseClient:
    """Subclasses set SERVICE (a name for messages) and STUB (the generated stub class), and may
    name environment variables for a bearer token file (TOKEN_FILE_ENV; its first token, read as
    the server reads the file (`rlhf.auth_tokens.read_tokens`: blank lines and '#' comments
    skipped), is sent as `authorization: Bearer <token>`) and a PEM CA bundle (CA_FILE_ENV; TLS
    when set)."""

    SERVICE = ""
    STUB: Callable[[grpc.Channel], Any]
    TOKEN_FILE_ENV = ""
    CA_FILE_ENV = ""

    def __init__(self, target: str, *, timeout: float = 60.0, retries: int = 3, backoff: float = 0.25,
                 max_message_mb: int = 64, token: str | None = None, root_certificates: bytes | None = None):
        self.target = target
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        if token is None and self.TOKEN_FILE_ENV:
            tokens = read_tokens((read_env_file(self.TOKEN_FILE_ENV) or b"").decode())
            token = tokens[0] if tokens else None
        self.metadata = (("authorization", f"Bearer {token}"),) if token else None
        if root_certificates is None and self.CA_FILE_ENV:
            root_certificates = read_env_file(self.CA_FILE_ENV)
        options = channel_options(max_message_mb)
        if root_certificates:
            credentials = grpc.ssl_channel_credentials(root_certificates)
            self.channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self.channel = grpc.insecure_channel(target, options=options)
        self.stub = type(self).STUB(self.channel)

    def _error(self, rpc: str, exc: grpc.RpcError) -> ServiceError:
        return ServiceError(self.SERVICE, rpc, self.target, exc.code(), exc.details() or "")

    def _retry(self, rpc: str, exc: grpc.RpcError, attempt: int,
               retryable: tuple[grpc.StatusCode, ...] = RETRYABLE) -> None:
        """Sleeps before attempt `attempt + 1` (exponential backoff with jitter) if `exc` may be
        retried; raises it as a ServiceError otherwise."""
        if exc.code() not in retryable or attempt >= self.retries:
            raise self._error(rpc, exc) from None
        time.sleep(self.backoff * 2 ** attempt * (0.5 + random.random()))

    def _call(self, rpc: str, make_request: Callable[[], Any], timeout: float | None, idempotent: bool) -> Any:
        """Calls a unary-response RPC; `make_request` builds a fresh request (or request iterator)
        per attempt so client streams can be retried."""
        method = getattr(self.stub, rpc)
        retryable = RETRYABLE if idempotent else RETRYABLE_NOT_IDEMPOTENT
        for attempt in range(self.retries + 1):
            try:
                return method(make_request(), timeout=timeout or self.timeout, metadata=self.metadata)
            except grpc.RpcError as exc:
                self._retry(rpc, exc, attempt, retryable)
        raise AssertionError("unreachable")

    def _unary(self, rpc: str, request: Any, timeout: float | None = None, *, idempotent: bool = True) -> Any:
        return self._call(rpc, lambda: request, timeout, idempotent)

    def _client_stream(self, rpc: str, make_chunks: Callable[[], Iterable[Any]], timeout: float | None = None, *,
                       idempotent: bool = True) -> Any:
        return self._call(rpc, lambda: iter(make_chunks()), timeout, idempotent)

    def _server_stream(self, rpc: str, request: Any, timeout: float | None = None) -> Iterator[Any]:
        """Streams responses; retries only if the stream fails before its first message."""
        method = getattr(self.stub, rpc)
        for attempt in range(self.retries + 1):
            started = False
            try:
                for item in method(request, timeout=timeout or self.timeout, metadata=self.metadata):
                    started = True
                    yield item
                return
            except grpc.RpcError as exc:
                if started:
                    raise self._error(rpc, exc) from None
                self._retry(rpc, exc, attempt)

    def info(self, timeout: float | None = None) -> common_pb2.ModelInfo:
        """GetInfo: what the service serves (model, weights revision and version, tokenizer)."""
        return self._unary("GetInfo", common_pb2.GetInfoRequest(), timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Blocks until the server accepts connections, or raises ServiceError UNAVAILABLE."""
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise ServiceError(self.SERVICE, "connect", self.target, grpc.StatusCode.UNAVAILABLE,
                               f"no server answered within {timeout:g}s") from None

    def close(self) -> None:
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
