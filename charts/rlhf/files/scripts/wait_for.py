"""Blocks until gRPC services answer SERVING, models exist and record sets are in the data-store
(the chart's init containers order the stages with it; `helm test` checks the services with it).

    python wait_for.py --config /etc/rlhf/config.yaml [--grpc HOST:PORT]...
        [--grpc-tls HOST:PORT --tls-ca PEM_FILE]...
        [--model PATH_OR_URI]... [--model-from-config SECTION.FIELD]...
        [--record-set NAME]... [--record-set-from-config SECTION.FIELD]...
        [--timeout SECONDS] [--interval SECONDS]

- A service is ready when the standard gRPC health check of the server ("" service) says SERVING.
  --grpc-tls targets are checked over TLS, trusting the CA bundle --tls-ca (the reward model's
  InferenceService with reward.kserve.tls); health checks need no bearer token.
- A model is ready when DIR/config.json exists (the stages write model directories atomically), or,
  for s3://BUCKET/PREFIX, when the object PREFIX/config.json exists on config.store.endpoint (keys
  from the variables config.store.access_key_env / secret_key_env). Relative paths are relative to
  the working directory (the workspace volume in the chart).
- A record set NAME is ready when the data-store (RLHF_DATA_STORE_ADDR, else the config's
  services.data_store) has it (ReadRecords answers; PutRecords writes a set atomically).
- `...-from-config eval.policies` reads the value from the config, defaults of rlhf.config
  included; a mapping stands for all of its values.

Exits 0 once everything is ready; after --timeout seconds (0: never) exits 1 naming what is not.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

BUNDLED_MODELS = {"smollm2"}  # names pipelines.common.resolve_model maps to a model in the image


def grpc_problem(target: str, timeout: float, root_certificates: bytes | None = None) -> str | None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    if root_certificates is None:
        channel = grpc.insecure_channel(target)
    else:
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates))
    with channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""),
                                                              timeout=timeout)
        except grpc.RpcError as exc:
            return f"{target}: {exc.code().name} {exc.details() or ''}".rstrip()
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return f"{target}: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
    return None


def model_problem(uri: str, store) -> str | None:
    if uri in BUNDLED_MODELS:
        return None
    if uri.startswith("s3://"):
        from rlhf.storage.s3 import connect

        bucket, _, prefix = uri[len("s3://"):].partition("/")
        key = f"{prefix.strip('/')}/config.json".lstrip("/")
        endpoint = store.endpoint or os.environ.get("RLHF_S3_ENDPOINT", "")
        # One try per poll, with the store's own timeouts: the poll loop is the retry.
        client = connect(store.endpoint or None, secure=store.secure, access_key=os.environ.get(store.access_key_env),
                         secret_key=os.environ.get(store.secret_key_env), retries=0)
        try:
            client.stat_object(bucket, key)
        except Exception as exc:  # NoSuchKey, NoSuchBucket, connection refused: all mean "not yet"
            return f"s3://{bucket}/{key} on {endpoint}: {getattr(exc, 'code', None) or type(exc).__name__}"
        return None
    path = Path(uri)
    if not (path / "config.json").exists():
        return f"{path.absolute()}/config.json does not exist yet"
    return None


def record_set_problem(name: str, target: str, timeout: float) -> str | None:
    from rlhf.clients.base import ServiceError
    from rlhf.clients.data_store import DataStoreClient

    with DataStoreClient(target, timeout=timeout, retries=0) as store:
        try:
            store.count_records(name)
        except ServiceError as exc:
            return f"record set {name!r} (on {target}): {exc.code.name}"
    return None


def config_values(config, dotted: str) -> list[str]:
    """The string(s) at `dotted` in the config: a string, or every value of a mapping."""
    value = config
    for part in dotted.split("."):
        if not hasattr(value, part):
            raise SystemExit(f"wait_for: {dotted}: the config has no field {part!r}")
        value = getattr(value, part)
    values = list(value.values()) if isinstance(value, dict) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise SystemExit(f"wait_for: {dotted}: expected a path or a mapping of paths, got {value!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="rlhf config file (for the store and --model-from-config)")
    parser.add_argument("--grpc", action="append", default=[], metavar="HOST:PORT")
    parser.add_argument("--grpc-tls", action="append", default=[], metavar="HOST:PORT", help="checked over TLS")
    parser.add_argument("--tls-ca", metavar="PEM_FILE", help="CA bundle trusted for --grpc-tls targets")
    parser.add_argument("--model", action="append", default=[], metavar="PATH_OR_URI")
    parser.add_argument("--model-from-config", action="append", default=[], metavar="SECTION.FIELD")
    parser.add_argument("--record-set", action="append", default=[], metavar="NAME")
    parser.add_argument("--record-set-from-config", action="append", default=[], metavar="SECTION.FIELD")
    parser.add_argument("--timeout", type=float, default=0, help="seconds; 0 waits forever")
    parser.add_argument("--interval", type=float, default=5)
    args = parser.parse_args(argv)
    if args.grpc_tls and not args.tls_ca:
        parser.error("--grpc-tls needs --tls-ca")
    ca = Path(args.tls_ca).read_bytes() if args.tls_ca else None

    from rlhf.config import load_config, service_address

    config = load_config(args.config)
    models = args.model + [v for f in args.model_from_config for v in config_values(config, f)]
    record_sets = args.record_set + [v for f in args.record_set_from_config for v in config_values(config, f)]
    data_store = service_address(config, "data_store")
    deadline = time.monotonic() + args.timeout if args.timeout > 0 else None
    last_report = 0.0
    while True:
        problems = [p for p in (grpc_problem(t, max(1.0, args.interval)) for t in args.grpc) if p]
        problems += [p for p in (grpc_problem(t, max(1.0, args.interval), ca) for t in args.grpc_tls) if p]
        problems += [p for p in (model_problem(m, config.store) for m in models) if p]
        problems += [p for p in (record_set_problem(r, data_store, max(1.0, args.interval)) for r in record_sets) if p]
        if not problems:
            print("wait_for: ready: " + ", ".join(args.grpc + args.grpc_tls + models + record_sets), flush=True)
            return 0
        if deadline is not None and time.monotonic() >= deadline:
            print("wait_for: not ready after %gs:\n  %s" % (args.timeout, "\n  ".join(problems)),
                  file=sys.stderr, flush=True)
            return 1
        if time.monotonic() - last_report >= 30 or last_report == 0.0:
            print("wait_for: waiting for:\n  " + "\n  ".join(problems), flush=True)
            last_report = time.monotonic()
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
