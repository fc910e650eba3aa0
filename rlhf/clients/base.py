"""What every typed client shares: a channel with message limits, and calls in the api-core style:
each attempt has a deadline sized to its work (doubled after an attempt ran out of it, as api-core's
ExponentialTimeout does), and a failed attempt is retried (UNAVAILABLE, and DEADLINE_EXCEEDED for
idempotent calls) with capped exponential backoff and a log line per retry, until the call's retry
budget (`ClientConfig.retry_budget_s`, counted from its first failure) is spent; long enough to
ride through a restarted service, bounded so that a dead or frozen service ends in an error that
says which service, which RPC, and why."""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import time
from typing import Any, Callable, Iterable, Iterator

import grpc

from rlhf.auth_tokens import read_tokens
from rlhf.config import ClientConfig
from rlhf.proto.channel import channel_options
from rlhf.proto.v1 import common_pb2

log = logging.getLogger("rlhf.clients")

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


def _env_file(variables: tuple[str, ...]) -> bytes | None:
    """The bytes of the file named by the first of `variables` that is set; None when none is."""
    for variable in variables:
        if os.environ.get(variable):
            return read_env_file(variable)
    return None


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
    name environment variables for a bearer token file (TOKEN_FILE_ENV, the first one set wins;
    its first token, read as the server reads the file (`rlhf.auth_tokens.read_tokens`: blank
    lines and '#' comments skipped), is sent as `authorization: Bearer <token>`) and a PEM CA
    bundle (CA_FILE_ENV; TLS when set).

    `config` sets deadlines and retries; `timeout` (the base deadline of an attempt), `retries`
    (a cap on retries on top of the budget; 0: none) and `backoff` override single fields of it."""

    SERVICE = ""
    STUB: Callable[[grpc.Channel], Any]
    TOKEN_FILE_ENV: tuple[str, ...] = ("RLHF_SERVICE_TOKEN_FILE",)
    CA_FILE_ENV: tuple[str, ...] = ("RLHF_SERVICE_CA_FILE",)

    def __init__(self, target: str, config: ClientConfig | None = None, *, timeout: float | None = None,
                 retries: int | None = None, backoff: float | None = None, max_message_mb: int = 64,
                 token: str | None = None, root_certificates: bytes | None = None):
        self.target = target
        config = config or ClientConfig()
        if timeout is not None:
            config = dataclasses.replace(config, attempt_timeout_s=timeout)
        if backoff is not None:
            config = dataclasses.replace(config, backoff_s=backoff)
        self.config = config
        self.retries = retries
        if token is None:
            tokens = read_tokens((_env_file(self.TOKEN_FILE_ENV) or b"").decode())
            token = tokens[0] if tokens else None
        self.metadata = (("authorization", f"Bearer {token}"),) if token else None
        if root_certificates is None:
            root_certificates = _env_file(self.CA_FILE_ENV)
        # A channel whose server went away reconnects on its own backoff (gRPC's default grows to
        # two minutes); capped here so a restarted service is found within seconds of listening.
        options = [*channel_options(max_message_mb), ("grpc.initial_reconnect_backoff_ms", 500),
                   ("grpc.min_reconnect_backoff_ms", 500), ("grpc.max_reconnect_backoff_ms", 2000)]
        if root_certificates:
            credentials = grpc.ssl_channel_credentials(root_certificates)
            self.channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self.channel = grpc.insecure_channel(target, options=options)
        self.stub = type(self).STUB(self.channel)

    def _timeout(self, timeout: float | None, work_s: float = 0.0) -> float:
        """An attempt's deadline: the caller's, or the base one plus the call's work."""
        return timeout if timeout is not None else self.config.attempt_timeout_s + work_s

    def _transfer_s(self, size: int) -> float:
        return size / self.config.transfer_bytes_per_s

    def _error(self, rpc: str, exc: grpc.RpcError, note: str = "") -> ServiceError:
        return ServiceError(self.SERVICE, rpc, self.target, exc.code(), (exc.details() or "") + note)

    def _attempts(self, rpc: str, retryable: tuple[grpc.StatusCode, ...]) -> Iterator[Callable[[grpc.RpcError], None]]:
        """Yields once per attempt a `failed(exc)` callback: it returns (after the backoff) when
        `exc` may be retried within the budget, and raises it as a ServiceError otherwise."""
        first_failure: float | None = None
        attempt = 0

        def failed(exc: grpc.RpcError) -> None:
            nonlocal first_failure
            now = time.monotonic()
            first_failure = now if first_failure is None else first_failure
            spent = now - first_failure
            if exc.code() not in retryable:
                raise self._error(rpc, exc) from None
            if spent >= self.config.retry_budget_s or (self.retries is not None and attempt > self.retries):
                raise self._error(rpc, exc, f" (after {attempt} attempts over {spent:.0f}s of retrying; "
                                            "is the service down or frozen?)") from None
            wait = min(self.config.max_backoff_s, self.config.backoff_s * 2 ** (attempt - 1)) * (0.5 + random.random())
            wait = min(wait, max(0.0, self.config.retry_budget_s - spent))
            log.warning("%s.%s at %s: %s: %s; retry %d in %.1fs (%.0fs of the %.0fs retry budget spent)",
                        self.SERVICE, rpc, self.target, exc.code().name, (exc.details() or "")[:200], attempt,
                        wait, spent, self.config.retry_budget_s)
            time.sleep(wait)

        while True:
            attempt += 1
            yield failed

    def _call(self, rpc: str, make_request: Callable[[], Any], timeout: float, idempotent: bool) -> Any:
        """Calls a unary-response RPC; `make_request` builds a fresh request (or request iterator)
        per attempt so client streams can be retried."""
        method = getattr(self.stub, rpc)
        attempt_timeout = timeout
        for failed in self._attempts(rpc, RETRYABLE if idempotent else RETRYABLE_NOT_IDEMPOTENT):
            try:
                return method(make_request(), timeout=attempt_timeout, metadata=self.metadata)
            except grpc.RpcError as exc:
                failed(exc)
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    # The work may just take longer than the deadline sized for it (a slower machine
                    # than the sizing assumed): the same deadline would fail every retry the same way.
                    attempt_timeout = min(2 * attempt_timeout, timeout + self.config.retry_budget_s)
        raise AssertionError("unreachable")

    def _unary(self, rpc: str, request: Any, timeout: float | None = None, *, idempotent: bool = True,
               work_s: float = 0.0) -> Any:
        return self._call(rpc, lambda: request, self._timeout(timeout, work_s), idempotent)

    def _client_stream(self, rpc: str, make_chunks: Callable[[], Iterable[Any]], timeout: float | None = None, *,
                       idempotent: bool = True, size: int = 0) -> Any:
        return self._call(rpc, lambda: iter(make_chunks()), self._timeout(timeout, self._transfer_s(size)),
                          idempotent)

    def _server_stream(self, rpc: str, request: Any, timeout: float | None = None) -> Iterator[Any]:
        """Streams responses; retries only if the stream fails before its first message. The
        deadline covers the whole stream, so it cannot be sized before the first message says how
        large the object is: without a `timeout`, streams get the base deadline plus the retry
        budget."""
        method = getattr(self.stub, rpc)
        deadline = timeout if timeout is not None else self.config.attempt_timeout_s + self.config.retry_budget_s
        for failed in self._attempts(rpc, RETRYABLE):
            started = False
            try:
                for item in method(request, timeout=deadline, metadata=self.metadata):
                    started = True
                    yield item
                return
            except grpc.RpcError as exc:
                if started:
                    raise self._error(rpc, exc) from None
                failed(exc)

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
