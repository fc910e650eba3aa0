"""One typed config schema for the CLI, the local runner, the Helm ConfigMap and the KFP params.

A config file is YAML or JSON whose keys mirror these dataclasses. Loading is strict: an unknown
key or a value of the wrong type fails with the dotted path of the field (`services.reward_scoring.port`).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class ServiceConfig:
    """How one gRPC service listens and batches."""

    host: str = "127.0.0.1"
    """Address to bind; 0.0.0.0 in a container."""
    port: int = 50051
    """gRPC port; 0 picks a free one (printed at start)."""
    metrics_port: int = 0
    """Prometheus /metrics HTTP port; 0 picks a free one (printed at start), -1 disables it."""
    max_message_mb: int = 64
    """Largest gRPC message accepted or sent, in MiB."""
    grace_seconds: float = 30.0
    """On SIGTERM, how long in-flight calls may run before they are cancelled."""
    max_batch_size: int = 16
    """Most sequences the server batches into one forward pass across concurrent requests."""
    max_batch_tokens: int = 8192
    """Most tokens (prompt + new tokens) in one server-side batch."""
    batch_wait_ms: float = 5.0
    """How long the first request of a batch waits for others to join it."""
    max_queue: int = 1024
    """Most items waiting for a batch; beyond it requests fail fast with RESOURCE_EXHAUSTED."""
    model: str = ""
    """Model directory (or store URI) the service loads; unused by data-store."""
    store: str = ""
    """Store URI (file://DIR or s3://BUCKET) for data-store and for LoadWeights."""


@dataclass
class StoreConfig:
    """Where objects and record sets live."""

    uri: str = "file://./runs/store"
    """file://DIR (embedded default) or s3://BUCKET (MinIO / S3)."""
    endpoint: str = ""
    """S3 endpoint host:port for s3:// URIs; the MinIO service in a cluster."""
    secure: bool = False
    """Use HTTPS for the S3 endpoint."""
    access_key_env: str = "AWS_ACCESS_KEY_ID"
    """Environment variable holding the S3 access key (credentials never live in config)."""
    secret_key_env: str = "AWS_SECRET_ACCESS_KEY"
    """Environment variable holding the S3 secret key."""


@dataclass
class ServicesConfig:
    """The four services; the trainer reaches them at `host:port`."""

    policy_inference: ServiceConfig = field(default_factory=lambda: ServiceConfig(port=50051))
    reward_scoring: ServiceConfig = field(default_factory=lambda: ServiceConfig(port=50052))
    reference_kl: ServiceConfig = field(default_factory=lambda: ServiceConfig(port=50053))
    data_store: ServiceConfig = field(default_factory=lambda: ServiceConfig(port=50054))


@dataclass
class Config:
    """The whole system's configuration."""

    store: StoreConfig = field(default_factory=StoreConfig)
    services: ServicesConfig = field(default_factory=ServicesConfig)


class ConfigError(ValueError):
    """A config value is missing, unknown or of the wrong type; the message names the field."""


def from_dict(cls: type[T], data: Any, path: str = "") -> T:
    """Builds dataclass `cls` from plain data, strictly: unknown keys and wrong types raise ConfigError."""
    where = path or "<root>"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{path + '.' if path else ''}{unknown[0]}: unknown field of {cls.__name__} "
                          f"(known: {', '.join(sorted(fields))})")
    values = {name: _coerce(hints[name], value, f"{path}.{name}" if path else name) for name, value in data.items()}
    return cls(**values)


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        return _coerce(next(a for a in args if a is not type(None)), value, path)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(tp)[:1] or (Any,)
        return [_coerce(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and (type(value) is not tp):
        raise ConfigError(f"{path}: expected {tp.__name__}, got {value!r}")
    return value


def to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def load_config(path: str | Path | None = None, cls: type[T] = Config) -> T:
    """Loads a YAML or JSON config file (or the defaults when `path` is None)."""
    if path is None:
        return cls()
    path = Path(path)
    text = path.read_text()
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # a parse error: name the file
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from exc
    try:
        return from_dict(cls, data or {})
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
