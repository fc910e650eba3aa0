"""Bearer tokens and per-token rate limits, checked the same way on both protocols: a gRPC server
interceptor (UNAUTHENTICATED / RESOURCE_EXHAUSTED) and an ASGI middleware (401 / 429). reward-kserve
uses both; the four internal services use the interceptor (`services.runtime.serve`, when their
`tokens_file` is set).

Health checks, reflection, liveness/readiness and /metrics stay open: probes and Prometheus carry
no token.
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import grpc

from rlhf.auth_tokens import read_tokens
from rlhf.config import ConfigError

log = logging.getLogger("rlhf.services.auth")

OPEN_GRPC_PREFIXES = ("/grpc.health.", "/grpc.reflection.")
OPEN_HTTP_PATHS = frozenset({"/", "/metrics", "/v2/health/live", "/v2/health/ready"})


class TokenFile:
    """The tokens of a file, one per line (blank lines and '#' comments skipped: `read_tokens`, which
    the trainer's RewardScoringClient reads its token with too). A mounted Secret
    changes in place when it is rotated, so the file is re-read when its mtime or size changes
    (looked at no more than once a second)."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.monotonic,
                 field: str = "reward_serving.tokens_file"):
        self.path = Path(path)
        self.field = field
        self.clock = clock
        self._stamp: tuple[int, int] | None = None
        self._checked = -math.inf
        self._tokens: tuple[bytes, ...] = ()
        self._lock = threading.Lock()
        self.tokens()
        if not self._tokens:
            raise ValueError(f"{self.field}: {self.path} holds no token")

    def tokens(self) -> tuple[bytes, ...]:
        with self._lock:
            now = self.clock()
            if now - self._checked >= 1.0:
                self._checked = now
                try:
                    st = os.stat(self.path)
                except OSError as exc:
                    if self._stamp is None:
                        raise ValueError(f"{self.field}: cannot read {self.path}: {exc.strerror}") from None
                    log.error("tokens file %s: %s; keeping the tokens read before", self.path, exc)
                    return self._tokens
                stamp = (st.st_mtime_ns, st.st_size)
                if stamp != self._stamp:
                    tokens = tuple(token.encode() for token in read_tokens(self.path.read_text()))
                    if tokens or self._stamp is None:  # an emptied file mid-rotation keeps the old tokens
                        self._tokens = tokens
                    self._stamp = stamp
            return self._tokens


class TokenBucket:
    """`rate` requests per second on average, up to `burst` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = max(1, burst)
        self.clock = clock
        self.level = float(self.burst)
        self.updated = clock()

    def take(self) -> float:
        """0 if a request may go now (and counts it), else the seconds until one may."""
        now = self.clock()
        self.level = min(self.burst, self.level + (now - self.updated) * self.rate)
        self.updated = now
        if self.level >= 1:
            self.level -= 1
            return 0.0
        return (1 - self.level) / self.rate


@dataclass
class Denial:
    """Why a request was refused; each protocol maps `kind` to its own status."""

    kind: str
    """"missing_token", "invalid_token" or "rate_limited"."""
    message: str
    retry_after: float = 0.0
    """Seconds until a rate-limited caller may try again."""


class Authenticator:
    """Checks an `authorization` header value; with no token file every caller is let in (and the
    rate limit, if any, is shared by all of them)."""

    def __init__(self, tokens: TokenFile | None, rate_per_second: float = 0.0, burst: int = 20,
                 clock: Callable[[], float] = time.monotonic):
        self.tokens = tokens
        self.rate = rate_per_second
        self.burst = burst
        self.clock = clock
        self._buckets: dict[bytes, TokenBucket] = {}
        self._lock = threading.Lock()

    def check(self, authorization: str | None) -> Denial | None:
        """None if the request may go on, else why not."""
        token = b""
        if self.tokens is not None:
            scheme, _, value = (authorization or "").strip().partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                return Denial("missing_token", "missing bearer token: send the header "
                                                 "'authorization: Bearer <token>'")
            token = value.strip().encode()
            # Compare with every known token in constant time: neither the match nor its position leaks.
            if not [known for known in self.tokens.tokens() if hmac.compare_digest(token, known)]:
                return Denial("invalid_token", "invalid bearer token")
        if self.rate > 0:
            with self._lock:
                bucket = self._buckets.get(token)
                if bucket is None:
                    bucket = self._buckets[token] = TokenBucket(self.rate, self.burst, self.clock)
                wait = bucket.take()
            if wait > 0:
                return Denial("rate_limited", f"rate limit of {self.rate:g} requests/s per token exceeded; "
                                              f"retry in {wait:.2f}s", retry_after=wait)
        return None


GRPC_CODES = {"missing_token": grpc.StatusCode.UNAUTHENTICATED, "invalid_token": grpc.StatusCode.UNAUTHENTICATED,
              "rate_limited": grpc.StatusCode.RESOURCE_EXHAUSTED}
HTTP_STATUS = {"missing_token": 401, "invalid_token": 401, "rate_limited": 429}


def retry_after_header(seconds: float) -> str:
    """Retry-After takes whole seconds; round up so a caller that obeys it is let in."""
    return str(max(1, math.ceil(seconds)))


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses an RPC before its handler runs; health and reflection stay open."""

    def __init__(self, auth: Authenticator):
        self.auth = auth

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or details.method.startswith(OPEN_GRPC_PREFIXES):
            return handler
        metadata = {key: value for key, value in (details.invocation_metadata or ())}
        denial = self.auth.check(metadata.get("authorization"))
        if denial is None:
            return handler

        trailers = (("retry-after", retry_after_header(denial.retry_after)),) if denial.retry_after else ()

        async def deny(request, context):
            await context.abort(GRPC_CODES[denial.kind], denial.message, trailing_metadata=trailers)

        async def deny_stream(request, context):
            await deny(request, context)
            yield  # never reached: makes this an async generator, as a response stream must be

        # Refused before any request message is read; never a path to the servicer.
        wrap = {"request_deserializer": None, "response_serializer": handler.response_serializer}
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(deny, **wrap)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(deny, **wrap)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(deny_stream, **wrap)
        return grpc.stream_stream_rpc_method_handler(deny_stream, **wrap)


class RestAuthMiddleware:
    """ASGI middleware: 401 with `WWW-Authenticate: Bearer` or 429 with `Retry-After`."""

    def __init__(self, app, auth: Authenticator):
        self.app = app
        self.auth = auth

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_HTTP_PATHS:
            return await self.app(scope, receive, send)
        from starlette.datastructures import Headers
        from starlette.responses import JSONResponse

        denial = self.auth.check(Headers(scope=scope).get("authorization"))
        if denial is None:
            return await self.app(scope, receive, send)
        if denial.kind == "rate_limited":
            headers = {"Retry-After": retry_after_header(denial.retry_after)}
        elif denial.kind == "invalid_token":
            headers = {"WWW-Authenticate": 'Bearer realm="reward", error="invalid_token"'}
        else:
            headers = {"WWW-Authenticate": 'Bearer realm="reward"'}
        response = JSONResponse({"error": denial.message}, status_code=HTTP_STATUS[denial.kind], headers=headers)
        await response(scope, receive, send)


def read_tls(config: Any, section: str) -> tuple[bytes, bytes] | None:
    """(certificate chain, private key) PEM bytes of a config with `tls_cert_file` and
    `tls_key_file` (config section `section`, for messages), or None for plaintext."""
    if bool(config.tls_cert_file) != bool(config.tls_key_file):
        missing = "tls_key_file" if config.tls_cert_file else "tls_cert_file"
        raise ConfigError(f"{section}.{missing}: TLS needs both tls_cert_file and tls_key_file")
    if not config.tls_cert_file:
        return None
    pem = []
    for field in ("tls_cert_file", "tls_key_file"):
        path = getattr(config, field)
        try:
            with open(path, "rb") as f:
                pem.append(f.read())
        except OSError as exc:
            raise ConfigError(f"{section}.{field}: cannot read {path}: {exc.strerror}") from None
    return pem[0], pem[1]
