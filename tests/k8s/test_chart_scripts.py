"""The helper scripts the chart ships in its scripts ConfigMap (init containers, the bucket Job,
`helm test`), run as they are rendered, against real local servers: a gRPC health server, a
DataStore gRPC server, and moto's S3 server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent import futures
from pathlib import Path

import grpc
import pytest
import yaml

import chartlib
from tests.helpers import free_port, self_signed

SCRIPT_TIMEOUT = 60


@pytest.fixture(scope="module")
def scripts(tmp_path_factory) -> Path:
    """The scripts exactly as rendered into the rlhf-scripts ConfigMap."""
    out = tmp_path_factory.mktemp("scripts")
    data = chartlib.one(chartlib.render("default"), "ConfigMap", "rlhf-scripts")["data"]
    for name, text in data.items():
        (out / name).write_text(text)
    return out


def run(scripts: Path, name: str, *args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(scripts / name), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=SCRIPT_TIMEOUT,
                          env={**os.environ, "PYTHONPATH": str(chartlib.ROOT), **(env or {})})


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


# ---- gRPC health ------------------------------------------------------------------------------

@pytest.fixture
def health_server():
    from grpc_health.v1 import health, health_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(0)


def test_wait_for_grpc_returns_once_serving(scripts, tmp_path, health_server):
    from grpc_health.v1 import health_pb2

    target, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    result = run(scripts, "wait_for.py", "--grpc", target, "--timeout", "10", "--interval", "0.2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"ready: {target}" in result.stdout


def test_wait_for_grpc_times_out_naming_the_unready_service(scripts, tmp_path, health_server):
    from grpc_health.v1 import health_pb2

    target, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)  # e.g. a server that is draining
    closed = f"127.0.0.1:{free_port()}"
    start = time.monotonic()
    result = run(scripts, "wait_for.py", "--grpc", target, "--grpc", closed, "--timeout", "2", "--interval", "0.3",
                 cwd=tmp_path)
    assert result.returncode == 1
    assert time.monotonic() - start < 30
    assert f"{target}: NOT_SERVING" in result.stderr
    assert f"{closed}: UNAVAILABLE" in result.stderr


def test_wait_for_grpc_over_tls_trusts_the_given_ca(scripts, tmp_path):
    """--grpc-tls checks health over TLS (the reward InferenceService with reward.kserve.tls)."""
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    ca, key = self_signed(tmp_path)
    key_pem, cert_pem = key.read_bytes(), ca.read_bytes()
    server = grpc.server(futures.ThreadPoolExecutor(2))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key_pem, cert_pem)]))
    server.start()
    try:
        target = f"localhost:{port}"
        ok = run(scripts, "wait_for.py", "--grpc-tls", target, "--tls-ca", str(ca), "--timeout", "10",
                 "--interval", "0.2", cwd=tmp_path)
        assert ok.returncode == 0, ok.stderr
        assert f"ready: {target}" in ok.stdout
        # plaintext against the TLS port, and TLS trusting another CA, both fail
        plain = run(scripts, "wait_for.py", "--grpc", target, "--timeout", "1", "--interval", "0.3", cwd=tmp_path)
        assert plain.returncode == 1 and f"{target}: UNAVAILABLE" in plain.stderr
        other, _ = self_signed(tmp_path / "other")
        wrong = run(scripts, "wait_for.py", "--grpc-tls", target, "--tls-ca", str(other), "--timeout", "1",
                    "--interval", "0.3", cwd=tmp_path)
        assert wrong.returncode == 1 and target in wrong.stderr
    finally:
        server.stop(0)
    usage = run(scripts, "wait_for.py", "--grpc-tls", target, cwd=tmp_path)
    assert usage.returncode == 2 and "--tls-ca" in usage.stderr


# ---- models -----------------------------------------------------------------------------------

def test_wait_for_model_directories_relative_to_the_workspace(scripts, tmp_path):
    workspace = tmp_path / "workspace"
    (workspace / "runs/latest/models/ppo").mkdir(parents=True)
    config = write_config(tmp_path / "config.yaml", {"eval": {"policies": {"PPO": "runs/latest/models/ppo",
                                                                           "Other": "runs/latest/models/other"}}})
    args = ("--config", str(config), "--model-from-config", "eval.policies", "--timeout", "1", "--interval", "0.2")
    result = run(scripts, "wait_for.py", *args, cwd=workspace)
    assert result.returncode == 1
    assert "runs/latest/models/ppo/config.json" in result.stderr  # no config.json yet
    assert "runs/latest/models/other/config.json" in result.stderr
    for name in ("ppo", "other"):
        (workspace / "runs/latest/models" / name).mkdir(parents=True, exist_ok=True)
        (workspace / "runs/latest/models" / name / "config.json").write_text("{}")
    result = run(scripts, "wait_for.py", *args, cwd=workspace)
    assert result.returncode == 0, result.stderr


def test_wait_for_model_from_config_uses_the_loader_defaults(scripts, tmp_path):
    from rlhf.config import Config

    default_init = Config().rm.init_model
    (tmp_path / default_init).mkdir(parents=True)
    (tmp_path / default_init / "config.json").write_text("{}")
    config = write_config(tmp_path / "config.yaml", {})
    result = run(scripts, "wait_for.py", "--config", str(config), "--model-from-config", "rm.init_model",
                 "--timeout", "5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    bad = run(scripts, "wait_for.py", "--config", str(config), "--model-from-config", "rm.no_such_field", cwd=tmp_path)
    assert bad.returncode != 0 and "no_such_field" in bad.stderr


# ---- record sets in the data-store ------------------------------------------------------------

@pytest.fixture
def data_store_server():
    """A DataStore gRPC server (the real generated service) answering ReadRecords for the sets it holds."""
    from rlhf.proto.v1 import data_store_pb2, data_store_pb2_grpc

    sets: set[str] = set()

    class Store(data_store_pb2_grpc.DataStoreServicer):
        def ReadRecords(self, request, context):
            if request.set not in sets:
                context.abort(grpc.StatusCode.NOT_FOUND, f"set {request.set!r}: no such record set")
            yield data_store_pb2.RecordsChunk(count=1, jsonl=b'{"prompt": "p"}\n')

    server = grpc.server(futures.ThreadPoolExecutor(2))
    data_store_pb2_grpc.add_DataStoreServicer_to_server(Store(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", sets
    server.stop(0)


def test_wait_for_record_sets_asks_the_data_store(scripts, tmp_path, data_store_server):
    target, keys = data_store_server
    config = write_config(tmp_path / "config.yaml", {"rm": {"comparisons": "comparisons/train"}})
    args = ("--config", str(config), "--record-set-from-config", "rm.comparisons", "--record-set", "demonstrations",
            "--timeout", "1", "--interval", "0.2")
    env = {"RLHF_DATA_STORE_ADDR": target}
    result = run(scripts, "wait_for.py", *args, cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "'comparisons/train' (on" in result.stderr and "NOT_FOUND" in result.stderr
    keys.update({"comparisons/train", "demonstrations"})
    result = run(scripts, "wait_for.py", *args, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr


# ---- S3: bucket creation and s3:// models ------------------------------------------------------

@pytest.fixture
def s3_endpoint(moto_s3) -> str:
    return moto_s3.endpoint


S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def test_make_bucket_creates_the_store_bucket_once(scripts, tmp_path, s3_endpoint):
    from minio import Minio

    config = write_config(tmp_path / "config.yaml", {"store": {"uri": "s3://rlhf-bucket", "endpoint": s3_endpoint}})
    client = Minio(s3_endpoint, access_key="testing", secret_key="testing", secure=False)
    assert not client.bucket_exists("rlhf-bucket")
    first = run(scripts, "make_bucket.py", "--config", str(config), "--timeout", "20", cwd=tmp_path, env=S3_ENV)
    assert first.returncode == 0, first.stderr
    assert "created s3://rlhf-bucket" in first.stdout
    assert client.bucket_exists("rlhf-bucket")
    again = run(scripts, "make_bucket.py", "--config", str(config), "--timeout", "20", cwd=tmp_path, env=S3_ENV)
    assert again.returncode == 0 and "exists" in again.stdout


def test_make_bucket_gives_up_after_its_timeout(scripts, tmp_path):
    closed = f"127.0.0.1:{free_port()}"
    config = write_config(tmp_path / "config.yaml", {"store": {"uri": "s3://rlhf-bucket", "endpoint": closed}})
    result = run(scripts, "make_bucket.py", "--config", str(config), "--timeout", "1", cwd=tmp_path, env=S3_ENV)
    assert result.returncode == 1 and closed in result.stderr


def test_wait_for_s3_model(scripts, tmp_path, s3_endpoint):
    import io

    from minio import Minio

    client = Minio(s3_endpoint, access_key="testing", secret_key="testing", secure=False)
    if not client.bucket_exists("models-bucket"):
        client.make_bucket("models-bucket")
    config = write_config(tmp_path / "config.yaml", {"store": {"uri": "s3://models-bucket", "endpoint": s3_endpoint}})
    args = ("--config", str(config), "--model", "s3://models-bucket/sft/", "--timeout", "1", "--interval", "0.2")
    result = run(scripts, "wait_for.py", *args, cwd=tmp_path, env=S3_ENV)
    assert result.returncode == 1 and "s3://models-bucket/sft/config.json" in result.stderr
    client.put_object("models-bucket", "sft/config.json", io.BytesIO(b"{}"), 2)
    result = run(scripts, "wait_for.py", *args, cwd=tmp_path, env=S3_ENV)
    assert result.returncode == 0, result.stderr


def data_job_sources(values: dict) -> dict[str, str]:
    """The data Job's RECORD_SET=SOURCE arguments, parsed by the project's own CLI."""
    from pipelines.cli import build_parser

    job = chartlib.one(chartlib.render_values(values), "Job", "rlhf-data")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"][0] == "rlhf"
    args = build_parser().parse_args(container["command"][1:] + container["args"])
    assert args.config == "/etc/rlhf/config.yaml"
    return dict(s.split("=", 1) for s in args.sources)


def test_data_stage_imports_every_demo_set_with_the_real_cli():
    """By default the data stage loads every bundled set `rlhf run` starts from."""
    from rlhf.config import Config

    assert data_job_sources({}) == Config().run.data


def test_data_stage_imports_the_sets_values_list():
    """values data.sources adds a team's own sets (here comparisons) and a null removes a demo one."""
    from pipelines.data import set_kind

    sources = data_job_sources({"data": {"sources": {"comparisons/train": "s3://rlhf/data/pairs.jsonl",
                                                     "prompts/train": "s3://rlhf/data/prompts.jsonl",
                                                     "general/train": None}}})
    assert sources["comparisons/train"] == "s3://rlhf/data/pairs.jsonl" and set_kind("comparisons/train") == "comparisons"
    assert sources["prompts/train"] == "s3://rlhf/data/prompts.jsonl" and "general/train" not in sources


@pytest.mark.parametrize("sources, message", [
    ({"pairs": "s3://rlhf/pairs.jsonl"}, "invalid propertyName 'pairs'"),
    ({"comparisons/train": "/local/pairs.jsonl"}, "/data/sources/comparisons~1train"),
])
def test_data_sources_the_import_cannot_read_are_rejected(sources, message):
    import helm_python

    with pytest.raises(helm_python.HelmValuesError) as info:
        chartlib.chart().validate_schema({"data": {"sources": sources}})
    assert message in str(info.value), str(info.value)
