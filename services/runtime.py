"""The grpc.aio server every service runs in: health, reflection, Prometheus /metrics, message
limits, cross-request batching, and a graceful SIGTERM drain.

A service is a thin adapter: it implements its proto servicer over the `rlhf` library and hands
`serve()` one `Service`. A servicer raises instead of setting status codes: `status_of` maps
InvalidArgument (and the library's own validation errors: PackingError, StoreError, RecordError, and
a request that is not a valid protobuf message) to INVALID_ARGUMENT, FailedPrecondition to
FAILED_PRECONDITION, Overloaded to RESOURCE_EXHAUSTED and FileNotFoundError to NOT_FOUND, with the
exception's message as the details. Anything else is a bug: INTERNAL, whose details name only the
exception type (its message, which may hold server paths, goes to the log).

Servicers never block the event loop (health checks and other calls share it): tokenizing,
decoding and model work run on threads (`off_loop`, the Batcher's model thread), and request sizes
are checked (`check_sizes`) before any of that work starts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import signal
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import grpc
import prometheus_client as prom
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from rlhf.config import ConfigError, ServiceConfig
from rlhf.data.records import RecordError
from rlhf.listening import listening_line
from rlhf.proto.channel import channel_options
from rlhf.proto.packing import PackingError
from rlhf.proto.v1 import common_pb2
from rlhf.storage import StoreError

log = logging.getLogger("rlhf.services")

REGISTRY = prom.CollectorRegistry()
REQUESTS = prom.Counter("rlhf_rpc_requests", "RPCs handled, by final status code",
                        ["service", "method", "code"], registry=REGISTRY)
LATENCY = prom.Histogram("rlhf_rpc_latency_seconds", "RPC latency", ["service", "method"], registry=REGISTRY,
                         buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
IN_FLIGHT = prom.Gauge("rlhf_rpc_in_flight", "RPCs in progress", ["service", "method"], registry=REGISTRY)
BATCH_SIZE = prom.Histogram("rlhf_batch_size", "Items per server-side batch", ["service"], registry=REGISTRY,
                            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
TOKENS = prom.Counter("rlhf_tokens", "Tokens processed", ["service", "direction"], registry=REGISTRY)


class InvalidArgument(ValueError):
    """Raised by validation; the servicer wrapper answers INVALID_ARGUMENT with its message."""


class FailedPrecondition(RuntimeError):
    """A valid request the server's state refuses (a weights version not above the one serving);
    answered FAILED_PRECONDITION with its message."""


class Overloaded(RuntimeError):
    """The batch queue is full; answered RESOURCE_EXHAUSTED so callers back off instead of queueing."""


@dataclass
class Service:
    """What a service hands the runtime."""

    name: str                                   # "policy-inference", used in metrics and logs
    full_name: str                              # proto service name, e.g. "rlhf.v1.PolicyInference"
    servicer: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    batcher: Batcher | None = None
    """Its model thread, shut down by `serve()` once the server has drained."""


class MalformedRequest(InvalidArgument):
    """The request bytes are not the method's protobuf message."""


async def off_loop(fn: Callable[..., Any], *args: Any) -> Any:
    """Runs CPU work (tokenizing, decoding, hashing) on a worker thread, so health checks and other
    calls keep being answered while it runs."""
    return await asyncio.to_thread(fn, *args)


def check_sizes(texts: dict[str, Sequence[str]], items: int, max_text_chars: int, max_items: int,
                items_field: str) -> None:
    """Refuses, before any tokenizing, a call with more than `max_items` items (`items_field` names
    them) or a text longer than `max_text_chars` characters (naming the field and index)."""
    if items > max_items:
        raise InvalidArgument(f"{items_field}: {items} items in one call, max {max_items}; split the call")
    for field_name, values in texts.items():
        for index, text in enumerate(values):
            if len(text) > max_text_chars:
                raise InvalidArgument(f"{field_name}[{index}]: {len(text)} characters, max {max_text_chars}")


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str] | None:
    """The status a library exception is answered with; None for a bug (answered INTERNAL)."""
    if isinstance(exc, (InvalidArgument, PackingError, StoreError, RecordError)):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, FailedPrecondition):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    if isinstance(exc, Overloaded):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)
    if isinstance(exc, FileNotFoundError):
        return grpc.StatusCode.NOT_FOUND, str(exc)
    return None


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts, times and tracks in-flight RPCs, and maps library exceptions to status codes
    (`status_of`, or a service's own mapping that falls back to it)."""

    def __init__(self, service: str,
                 status_of: Callable[[BaseException], tuple[grpc.StatusCode, str] | None] = status_of):
        self.service = service
        self.status_of = status_of

    @contextlib.asynccontextmanager
    async def _observed(self, context: grpc.aio.ServicerContext, method: str):
        labels = (self.service, method)
        IN_FLIGHT.labels(*labels).inc()
        start = time.perf_counter()

        def record(code: grpc.StatusCode) -> None:
            IN_FLIGHT.labels(*labels).dec()
            LATENCY.labels(*labels).observe(time.perf_counter() - start)
            REQUESTS.labels(*labels, code.name).inc()

        try:
            yield
        except grpc.aio.AbortError:
            record(context.code() or grpc.StatusCode.UNKNOWN)
            raise
        except asyncio.CancelledError:
            record(grpc.StatusCode.CANCELLED)
            raise
        except Exception as exc:
            status = self.status_of(exc)
            if status is None:
                log.exception("%s.%s failed", self.service, method)
                status = (grpc.StatusCode.INTERNAL, f"{type(exc).__name__} in {self.service}.{method}; "
                                                    "the service's log has the details")
            # Before the abort sends the status: a caller may read /metrics as soon as it has it.
            record(status[0])
            await context.abort(*status)
        else:
            record(grpc.StatusCode.OK)

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or details.method.startswith(("/grpc.health", "/grpc.reflection")):
            return handler
        method = details.method.rsplit("/", 1)[-1]
        # Requests arrive as bytes and are parsed here, where a DecodeError can be answered
        # INVALID_ARGUMENT (grpc's own deserializer step answers UNKNOWN).
        parse = handler.request_deserializer or (lambda raw: raw)
        wrap = {"request_deserializer": None, "response_serializer": handler.response_serializer}

        def decode(raw: bytes) -> Any:
            try:
                return parse(raw)
            except DecodeError as exc:
                raise MalformedRequest(f"request: not a valid {method} request message ({exc})") from None

        async def decoded(requests):
            async for raw in requests:
                yield decode(raw)

        if handler.unary_unary:
            async def unary_unary(request, context):
                async with self._observed(context, method):
                    return await handler.unary_unary(decode(request), context)
            return grpc.unary_unary_rpc_method_handler(unary_unary, **wrap)
        if handler.stream_unary:
            async def stream_unary(requests, context):
                async with self._observed(context, method):
                    return await handler.stream_unary(decoded(requests), context)
            return grpc.stream_unary_rpc_method_handler(stream_unary, **wrap)
        if handler.unary_stream:
            async def unary_stream(request, context):
                async with self._observed(context, method):
                    async for item in handler.unary_stream(decode(request), context):
                        yield item
            return grpc.unary_stream_rpc_method_handler(unary_stream, **wrap)
        return handler


class Batcher:
    """Batches items from concurrent requests into one call of `run_batch` on a worker thread.

    Items are taken first come, first served, up to `max_batch_size` items and `max_batch_tokens`
    total cost; the first item of a batch waits at most `max_wait_ms` for company. `run_batch`
    runs on a single thread (models are not re-entrant) and returns one result per item.
    """

    def __init__(self, service: str, run_batch: Callable[[list], list], *, max_batch_size: int,
                 max_batch_tokens: int | None = None, max_wait_ms: float = 5.0, max_queue: int = 1024,
                 cost: Callable[[Any], int] = lambda item: 1, bf16_autocast: bool = False):
        self.service = service
        self.run_batch = run_batch
        self.bf16_autocast = bf16_autocast
        self.max_batch_size = max(1, max_batch_size)
        self.max_batch_tokens = max_batch_tokens
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.cost = cost
        self.executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"{service}-model")
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self._carry: tuple | None = None

    @classmethod
    def from_config(cls, service: str, run_batch: Callable[[list], list], config: Any, *,
                    cost: Callable[[Any], int] = lambda item: 1) -> Batcher:
        """A Batcher with the batching fields of `config` (ServiceConfig, RewardServingConfig):
        max_batch_size, max_batch_tokens, batch_wait_ms, max_queue, bf16_autocast."""
        return cls(service, run_batch, max_batch_size=config.max_batch_size, max_batch_tokens=config.max_batch_tokens,
                   max_wait_ms=config.batch_wait_ms, max_queue=config.max_queue, cost=cost,
                   bf16_autocast=config.bf16_autocast)

    def check_room(self, count: int) -> None:
        """Raises Overloaded unless `count` more items fit in the queue now: called before a
        request's tokenizing too, so an overloaded server refuses in milliseconds."""
        queued = self._queue.qsize() if self._queue is not None else 0
        if queued + count > self.max_queue:
            raise Overloaded(f"{self.service}: {queued} items queued (max_queue={self.max_queue}); retry later")

    async def submit(self, items: Sequence) -> list:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._work())
        self.check_room(len(items))
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in items]
        for item, future in zip(items, futures):
            self._queue.put_nowait((item, future))
        return list(await asyncio.gather(*futures))

    async def run_exclusive(self, fn: Callable[[], Any]) -> Any:
        """Runs `fn` on the model thread, between batches (for weight swaps)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    def close(self) -> None:
        """Stops the model thread once the batch it runs (if any) is done."""
        self.executor.shutdown(wait=True)

    def _run(self, items: list) -> list:
        from rlhf.device import autocast  # here, so data-store (no model, no Batcher) never imports torch

        # Autocast state is per thread: entered on the model thread, around each batch.
        with autocast(self.bf16_autocast):
            return self.run_batch(items)

    async def _take_batch(self) -> list:
        batch = [self._carry or await self._queue.get()]
        self._carry = None
        total = self.cost(batch[0][0])
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch_size:
            try:
                entry = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    entry = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            cost = self.cost(entry[0])
            if self.max_batch_tokens is not None and total + cost > self.max_batch_tokens:
                self._carry = entry  # starts the next batch
                break
            batch.append(entry)
            total += cost
        return batch

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._take_batch()
            live = [(item, fut) for item, fut in batch if not fut.done()]
            if not live:
                continue
            BATCH_SIZE.labels(self.service).observe(len(live))
            try:
                results = await loop.run_in_executor(self.executor, self._run, [i for i, _ in live])
            except Exception as exc:  # every caller of this batch sees the failure
                for _, fut in live:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), result in zip(live, results):
                if not fut.done():
                    fut.set_result(result)


def model_info(service: str, name: str, model: Any, tokenizer: Any, version: int = 0) -> common_pb2.ModelInfo:
    """What GetInfo answers for a model service: the weights' revision (hashed here, over every
    weight), the tokenizer's fingerprint, the vocabulary and the longest sequence. Services whose
    weights change (policy-inference) update `version` and `revision` themselves."""
    from rlhf.models import tokenizer_fingerprint, weights_revision
    from rlhf.models.generation import max_sequence_length

    return common_pb2.ModelInfo(
        service=service, model_name=name, revision=weights_revision(model),
        tokenizer_fingerprint=tokenizer_fingerprint(tokenizer), version=version,
        vocab_size=model.get_input_embeddings().num_embeddings, max_sequence_length=max_sequence_length(model))


def grpc_server(service: str, max_message_mb: int, *, interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
                status_of: Callable[[BaseException], tuple[grpc.StatusCode, str] | None] = status_of
                ) -> grpc.aio.Server:
    """A server whose outermost interceptor observes every RPC, so the metrics count what the
    inner `interceptors` (auth) refuse too."""
    return grpc.aio.server(interceptors=[MetricsInterceptor(service, status_of), *interceptors],
                           options=channel_options(max_message_mb))


def add_health_and_reflection(server: grpc.aio.Server, service_names: Sequence[str]) -> health.aio.HealthServicer:
    """Adds grpc.health.v1 (set SERVING with `set_serving` once started) and reflection of `service_names`."""
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection([*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    return health_servicer


async def set_serving(health_servicer: health.aio.HealthServicer, service_names: Sequence[str]) -> None:
    for name in ("", *service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)


def bind(server: grpc.aio.Server, service: str, host: str, port: int,
         credentials: grpc.ServerCredentials | None = None) -> int:
    """Binds host:port (TLS with `credentials`); returns the port, which port 0 leaves to the OS."""
    address = f"{host}:{port}"
    bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    if bound == 0:
        raise SystemExit(f"{service}: cannot bind {address}")
    return bound


async def stop_requested() -> None:
    """Returns at the first SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def security(service: str, config: ServiceConfig) -> tuple[list[grpc.aio.ServerInterceptor],
                                                           grpc.ServerCredentials | None]:
    """Bearer-token auth when `config.tokens_file` is set (health and reflection stay open for
    probes) and TLS when `config.tls_cert_file` is; both off on loopback for `rlhf run`."""
    from services.auth import AuthInterceptor, Authenticator, TokenFile, read_tls

    section = f"services.{service.replace('-', '_')}"
    interceptors: list[grpc.aio.ServerInterceptor] = []
    if config.tokens_file:
        try:
            tokens = TokenFile(config.tokens_file, field=f"{section}.tokens_file")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        interceptors.append(AuthInterceptor(Authenticator(tokens)))
    elif config.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"{service}: WARNING: authentication is OFF ({section}.tokens_file is empty) on {config.host}",
              flush=True)
    tls = read_tls(config, section)
    return interceptors, grpc.ssl_server_credentials([(tls[1], tls[0])]) if tls else None


async def serve(service: Service, config: ServiceConfig) -> None:
    """Serves until SIGTERM/SIGINT, then drains: new calls are refused, in-flight calls get
    `config.grace_seconds` to finish."""
    interceptors, credentials = security(service.name, config)
    server = grpc_server(service.name, config.max_message_mb, interceptors=interceptors)
    service.add_to_server(service.servicer, server)
    health_servicer = add_health_and_reflection(server, [service.full_name])
    port = bind(server, service.name, config.host, config.port, credentials)
    await server.start()
    metrics_at = "off"
    if config.metrics_port >= 0:
        http, _ = prom.start_http_server(config.metrics_port, addr=config.host, registry=REGISTRY)
        metrics_at = f"http://{config.host}:{http.server_port}/metrics"
    await set_serving(health_servicer, [service.full_name])
    print(listening_line(service.name, config.host, port, metrics_at), flush=True)

    await stop_requested()
    print(f"{service.name} draining (grace {config.grace_seconds:g}s)", flush=True)
    await health_servicer.enter_graceful_shutdown()
    await server.stop(config.grace_seconds)
    if service.batcher is not None:
        service.batcher.close()
    print(f"{service.name} stopped", flush=True)
