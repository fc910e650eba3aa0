"""`rlhf serve reward-kserve`: the reward model for other teams, served by kserve's protocol pieces
in servers of our own.

One process, one event loop, two ports:
- gRPC: Open Inference Protocol v2 (`inference.GRPCInferenceService`), `rlhf.v1.RewardScoring`
  (the trainer's proto: same model, same batcher) and `grpc.health.v1.Health`, with reflection;
- HTTP: OIP v2 REST (`/v2/models/NAME[/versions/V]/infer`, kserve's v1 routes) and Prometheus
  `/metrics`.

kserve's `ModelServer` cannot do what this needs (its gRPC server binds [::] insecurely with fixed
interceptors and one servicer; its uvicorn binds 0.0.0.0; its REST app is a module-global FastAPI
`app` in `kserve.model_server`), and subclassing it would tie us to its constructor and start-up.
So `RewardServer` composes kserve's public pieces instead: a `ModelRepository` holding our one
`Model`, a `DataPlane` over it, the OIP `InferenceServicer` added to our grpc.aio server, and the
v1/v2 REST routes (`register_v1_endpoints`, `register_v2_endpoints`) added to a FastAPI app we
create. Ours: binding `host`, optional TLS on both ports, bearer-token auth and rate limits, our
metrics, error bodies that never echo the request, and model versions on every OIP route (kserve
answers 501 to /versions/ and ignores versions in gRPC metadata).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Optional, Union

import grpc
import prometheus_client as prom
import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kserve.errors import (InferenceError, InvalidInput, ModelNotFound, ModelNotReady, ServerNotLive, ServerNotReady,
                           UnsupportedProtocol)
from kserve.model_repository import ModelRepository
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.grpc import grpc_predict_v2_pb2 as oip_pb2
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as oip_pb2_grpc
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.rest.v1_endpoints import register_v1_endpoints
from kserve.protocol.rest.v2_datamodels import InferenceRequest, ModelMetadataResponse, ModelReadyResponse
from kserve.protocol.rest.v2_endpoints import V2Endpoints, register_v2_endpoints

from rlhf.config import Config, ConfigError, RewardServingConfig
from rlhf.listening import listening_line
from rlhf.proto.v1 import reward_scoring_pb2_grpc
from services.auth import AuthInterceptor, Authenticator, RestAuthMiddleware, TokenFile, read_tls
from services.reward_kserve.model import PINNED_VERSION, RewardDataPlane, RewardKServeModel
from services.reward_kserve.versions import RewardVersions, StoreVersions, VersionNotFound, check_source
from services.reward import RewardScoringServicer, load_version, reward_batcher
from services.runtime import (REGISTRY, Batcher, InvalidArgument, Overloaded, add_health_and_reflection, bind,
                              grpc_server, set_serving, status_of, stop_requested)

SERVICE = "reward-kserve"
GRPC_SERVICES = ("inference.GRPCInferenceService", "rlhf.v1.RewardScoring")
NO_REPOSITORY_CHANGES = ("versions are published to the store (`rlhf reward publish`) and loaded by the server; "
                         "callers cannot load or unload models")

log = logging.getLogger("rlhf.services.reward_kserve")

# The one place an exception becomes a status, for both protocols: (types, gRPC code, HTTP status).
# kserve's errors get the codes kserve's own servers give them. A gRPC code of None leaves the
# exception to the runtime's `status_of`, which every service shares: Overloaded is
# RESOURCE_EXHAUSTED and VersionNotFound (a FileNotFoundError) NOT_FOUND there, and what it does
# not know (InferenceError) is INTERNAL with only the exception's type, never its message.
STATUSES: tuple[tuple[tuple[type[BaseException], ...], grpc.StatusCode | None, int], ...] = (
    ((InvalidArgument, InvalidInput), grpc.StatusCode.INVALID_ARGUMENT, 400),
    ((UnsupportedProtocol,), grpc.StatusCode.INVALID_ARGUMENT, 501),
    ((ModelNotFound,), grpc.StatusCode.NOT_FOUND, 404),
    ((VersionNotFound,), None, 404),
    ((ModelNotReady, ServerNotReady, ServerNotLive), grpc.StatusCode.UNAVAILABLE, 503),
    ((NotImplementedError,), grpc.StatusCode.UNIMPLEMENTED, 501),
    ((Overloaded,), None, 429),
    ((InferenceError,), None, 500),
)


def kserve_status_of(exc: BaseException) -> tuple[grpc.StatusCode, str] | None:
    """The gRPC status of `exc`: STATUSES, then the runtime's."""
    for types, code, _ in STATUSES:
        if code is not None and isinstance(exc, types):
            return code, str(exc)
    return status_of(exc)


class VersionedInferenceServicer(InferenceServicer):
    """kserve's OIP servicer, plus versions in ModelMetadata / ModelReady, minus repository
    load/unload (which would let any caller unload the model)."""

    def __init__(self, dataplane: DataPlane, versions: RewardVersions):
        # No repository extension: load/unload are refused below, and nothing else would use it.
        super().__init__(dataplane, None)
        self.versions = versions

    async def ModelMetadata(self, request: oip_pb2.ModelMetadataRequest, context) -> oip_pb2.ModelMetadataResponse:
        response = await super().ModelMetadata(request, context)
        self.versions.get(request.version)  # NOT_FOUND for a version that is not loaded
        response.versions.extend(self.versions.names())
        return response

    async def ModelReady(self, request: oip_pb2.ModelReadyRequest, context) -> oip_pb2.ModelReadyResponse:
        response = await super().ModelReady(request, context)
        self.versions.get(request.version)
        return response

    async def RepositoryModelLoad(self, request, context):
        raise NotImplementedError(NO_REPOSITORY_CHANGES)

    async def RepositoryModelUnload(self, request, context):
        raise NotImplementedError(NO_REPOSITORY_CHANGES)


class VersionedV2Endpoints(V2Endpoints):
    """kserve's REST v2 endpoints, answering /versions/{version}/... instead of 501."""

    def __init__(self, dataplane: DataPlane, versions: RewardVersions):
        super().__init__(dataplane, None)
        self.versions = versions

    async def model_metadata(self, model_name: str, model_version: Optional[str] = None) -> ModelMetadataResponse:
        metadata = await super().model_metadata(model_name)
        self.versions.get(model_version)
        metadata.versions = self.versions.names()
        return metadata

    async def model_ready(self, model_name: str, model_version: Optional[str] = None) -> ModelReadyResponse:
        response = await super().model_ready(model_name)
        self.versions.get(model_version)
        return response

    async def infer(self, raw_request: Request, raw_response: Response, model_name: str,
                    request_body: Union[InferenceRequest, bytes], model_version: Optional[str] = None):
        token = PINNED_VERSION.set(model_version)
        try:
            return await super().infer(raw_request, raw_response, model_name, request_body)
        finally:
            PINNED_VERSION.reset(token)

    async def load(self, model_name: str):
        raise NotImplementedError(NO_REPOSITORY_CHANGES)

    unload = load


async def metrics(request: Request) -> Response:
    """Ours (rlhf_*) and kserve's (request_*_seconds, in the default registry) on one port."""
    return Response(prom.generate_latest(REGISTRY) + prom.generate_latest(prom.REGISTRY),
                    media_type=prom.CONTENT_TYPE_LATEST)


MAX_ERROR_CHARS = 300
"""Error bodies carry at most this much of a message: one that quoted the request (a 1.2 MB body
drew a 61 MB error) is cut, never echoed."""


def _error(status: int, headers: dict[str, str] | None = None):
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": str(exc)[:MAX_ERROR_CHARS]}, status_code=status, headers=headers)
    return handler


async def _invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's own answer lists every failing element with its input; this names the places only."""
    places = ["/".join(str(part) for part in error["loc"]) + f": {error['msg']}" for error in exc.errors()[:3]]
    return JSONResponse({"error": "; ".join(places)[:MAX_ERROR_CHARS]}, status_code=400)


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": f"{type(exc).__name__}; the service's log has the details"}, status_code=500)


class RestLimits:
    """ASGI middleware before the routes: a POST body over `max_body` bytes is refused 413 before
    it is read (by its Content-Length, or as soon as a chunked body passes the limit), and while
    the batch queue is full an inference request is refused 429 before its body is read or parsed,
    as fast as gRPC refuses it."""

    def __init__(self, app, max_body: int, batcher: Batcher):
        self.app = app
        self.max_body = max_body
        self.batcher = batcher

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        from starlette.datastructures import Headers

        too_large = JSONResponse({"error": f"request body: larger than {self.max_body} bytes"}, status_code=413)
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await too_large(scope, receive, send)
        if scope["path"].endswith("/infer"):
            try:
                self.batcher.check_room(1)
            except Overloaded as exc:
                return await JSONResponse({"error": str(exc)}, status_code=429,
                                          headers={"Retry-After": "1"})(scope, receive, send)
        if length is not None:
            return await self.app(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:  # chunked: read to the limit, then hand the app what was read
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                return await too_large(scope, receive, send)
            more = message.get("more_body", False)
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return body

        await self.app(scope, replay, send)


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        # The process's own SIGTERM handler drains both protocols; uvicorn must not take the signal.
        yield


class RewardServer:
    """kserve's model repository, DataPlane, OIP servicer and REST routes in servers of our own;
    see the module docstring. `await serve()` runs it."""

    def __init__(self, config: RewardServingConfig, model: RewardKServeModel, versions: RewardVersions,
                 scoring: RewardScoringServicer, auth: Authenticator, tls: tuple[bytes, bytes] | None):
        # The models are registered here, never loaded from a directory: the repository's
        # models_dir (kserve's /mnt/models default) is never read.
        self.repository = ModelRepository()
        self.repository.update(model)
        self.dataplane = RewardDataPlane(self.repository)
        self.config = config
        self.versions = versions
        self.scoring = scoring
        self.auth = auth
        self.tls = tls

    def _grpc(self) -> tuple[grpc.aio.Server, int]:
        server = grpc_server(SERVICE, self.config.max_message_mb, interceptors=[AuthInterceptor(self.auth)],
                             status_of=kserve_status_of)
        oip_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            VersionedInferenceServicer(self.dataplane, self.versions), server)
        reward_scoring_pb2_grpc.add_RewardScoringServicer_to_server(self.scoring, server)
        credentials = grpc.ssl_server_credentials([(self.tls[1], self.tls[0])]) if self.tls else None
        return server, bind(server, SERVICE, self.config.host, self.config.grpc_port, credentials)

    def app(self) -> FastAPI:
        """A FastAPI app of this server's own: our routes first (the first matching route wins),
        then kserve's v1 and v2 routes over the same DataPlane, then STATUSES as handlers."""
        # No /docs or /redoc (as kserve's app by default); FastAPI's default JSON response, not
        # kserve's ORJSONResponse, which FastAPI deprecates: the same JSON for our responses.
        app = FastAPI(title=SERVICE, docs_url=None, redoc_url=None)
        endpoints = VersionedV2Endpoints(self.dataplane, self.versions)
        router = APIRouter(prefix="/v2")
        for path in ("/models/{model_name}", "/models/{model_name}/versions/{model_version}"):
            router.add_api_route(path, endpoints.model_metadata, methods=["GET"], response_model=ModelMetadataResponse)
            router.add_api_route(path + "/ready", endpoints.model_ready, methods=["GET"],
                                 response_model=ModelReadyResponse)
            router.add_api_route(path + "/infer", endpoints.infer, methods=["POST"], response_model=None)
        for verb in ("load", "unload"):
            router.add_api_route("/repository/models/{model_name}/" + verb, endpoints.load, methods=["POST"])
        app.include_router(router)
        app.add_api_route("/metrics", metrics, methods=["GET"])
        app.add_api_route("/", self.dataplane.live, methods=["GET"])  # kserve's liveness at the root
        # kserve's routes, for what ours leave to it (/v2/health/*, /v2, /v2/models, /v1/...); no
        # repository extension, so even a load/unload route of theirs could change nothing.
        register_v1_endpoints(app, self.dataplane, None)
        register_v2_endpoints(app, self.dataplane, None)
        for types, _, status in STATUSES:
            for exc_type in types:
                app.add_exception_handler(exc_type, _error(status, {"Retry-After": "1"} if status == 429 else None))
        app.add_exception_handler(RequestValidationError, _invalid_body)
        app.add_exception_handler(Exception, _internal)
        app.add_middleware(RestLimits, max_body=self.config.max_body_mb << 20, batcher=self.scoring.batcher)
        app.add_middleware(RestAuthMiddleware, auth=self.auth)  # added last: outermost, before any route
        return app

    def _rest(self) -> tuple[_Uvicorn, socket.socket]:
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        try:  # bound here, not by uvicorn, so that port 0 is known before the listening line
            sock = socket.create_server((self.config.host, self.config.http_port), family=family)
        except OSError as exc:
            raise SystemExit(f"{SERVICE}: cannot bind {self.config.host}:{self.config.http_port}: {exc.strerror}")
        tls_files = {"ssl_certfile": self.config.tls_cert_file, "ssl_keyfile": self.config.tls_key_file} if self.tls else {}
        config = uvicorn.Config(self.app(), log_config=None, access_log=False,
                                timeout_graceful_shutdown=int(self.config.grace_seconds), **tls_files)
        return _Uvicorn(config), sock

    async def serve(self, store: StoreVersions | None = None) -> None:
        """Serves until SIGTERM/SIGINT, then drains both protocols for `grace_seconds`."""
        grpc_server_, grpc_port = self._grpc()
        health = add_health_and_reflection(grpc_server_, GRPC_SERVICES)
        rest, sock = self._rest()
        http_port = sock.getsockname()[1]
        await grpc_server_.start()
        rest_task = asyncio.create_task(rest.serve(sockets=[sock]))
        while not rest.started:
            if rest_task.done():
                rest_task.result()  # raises what stopped uvicorn
                raise SystemExit(f"{SERVICE}: the HTTP server stopped during startup")
            await asyncio.sleep(0.01)
        await set_serving(health, GRPC_SERVICES)
        host, scheme = self.config.host, "https" if self.tls else "http"
        # The gRPC port is the service's address; /metrics is on the HTTP port.
        print(f"{listening_line(SERVICE, host, grpc_port, f'{scheme}://{host}:{http_port}/metrics')} "
              f"http {host}:{http_port}", flush=True)
        poll = asyncio.create_task(store.poll(self.config.reload_interval_s)) if store else None

        await stop_requested()
        print(f"{SERVICE} draining (grace {self.config.grace_seconds:g}s)", flush=True)
        await health.enter_graceful_shutdown()
        if poll:
            poll.cancel()
        rest.should_exit = True
        await asyncio.gather(grpc_server_.stop(self.config.grace_seconds), rest_task)
        self.scoring.batcher.close()  # the model thread both protocols share
        print(f"{SERVICE} stopped", flush=True)


def build_auth(config: RewardServingConfig) -> Authenticator:
    if config.rate_limit_per_second < 0:
        raise ConfigError(f"reward_serving.rate_limit_per_second: {config.rate_limit_per_second:g}; expected >= 0")
    if config.rate_limit_burst < 1:
        raise ConfigError(f"reward_serving.rate_limit_burst: {config.rate_limit_burst}; expected >= 1")
    tokens = None
    if config.tokens_file:
        try:
            tokens = TokenFile(config.tokens_file)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    else:
        print(f"{SERVICE}: WARNING: authentication is OFF (reward_serving.tokens_file is empty): anyone who can "
              "reach these ports can call the reward model", flush=True)
    return Authenticator(tokens, config.rate_limit_per_second, config.rate_limit_burst)


async def serve(config: RewardServingConfig, root: Config) -> None:
    """Loads the model (a directory as version "1", or the newest versions in the store), then
    serves until SIGTERM."""
    check_source(config)
    if config.keep_versions < 1:
        raise ConfigError(f"reward_serving.keep_versions: {config.keep_versions}; expected >= 1")
    auth = build_auth(config)
    tls = read_tls(config, "reward_serving")
    versions = RewardVersions(config.model_name, config.keep_versions)
    store = None
    if config.repository:
        store = StoreVersions(versions, root.store.uri, config.repository, SERVICE)
        await store.load_initial(config.reload_interval_s)
    else:
        versions.add(await asyncio.to_thread(load_version, config.model, name="1", service=SERVICE))
    batcher = reward_batcher(SERVICE, config)
    model = RewardKServeModel(config.model_name, versions, batcher, config, SERVICE)
    scoring = RewardScoringServicer(versions.get, batcher, config, SERVICE)
    await RewardServer(config, model, versions, scoring, auth, tls).serve(store)
