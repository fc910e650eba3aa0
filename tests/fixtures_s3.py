"""A real S3 endpoint for the storage and data-store tests: `moto_server` on a free loopback port.

Import the fixture into a test module (`from tests.fixtures_s3 import moto_s3`); each module that does
gets one server for the session.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from minio import Minio

from tests.helpers import free_port

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


@dataclass
class S3Endpoint:
    endpoint: str  # host:port, plain http

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to reach this endpoint through `rlhf.storage`."""
        return {"RLHF_S3_ENDPOINT": f"http://{self.endpoint}", **CREDENTIALS}

    def make_bucket(self) -> str:
        name = f"test-{uuid.uuid4().hex[:12]}"
        Minio(self.endpoint, CREDENTIALS["AWS_ACCESS_KEY_ID"], CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
              secure=False, region=CREDENTIALS["AWS_REGION"]).make_bucket(name)
        return name


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory):
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"  # a file, not a pipe: it logs every request
    with log.open("w") as out:
        proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
            break
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("moto_server did not answer within 60s") from None
            time.sleep(0.1)
    yield S3Endpoint(f"127.0.0.1:{port}")
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
