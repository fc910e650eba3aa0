"""Shared fixtures: tiny random models with SmolLM2's real tokenizer, and real service processes
on 127.0.0.1 (each started with `python -m pipelines.cli serve ... --port 0`)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.fixtures_s3 import moto_s3  # noqa: F401  (a session-wide S3 server for the s3:// backend)

ROOT = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"(\S+) listening on (\S+):(\d+) metrics (\S+)")


@pytest.fixture(scope="session")
def tokenizer_dir() -> Path:
    from rlhf.models import smollm2

    return smollm2.tokenizer_dir()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, tokenizer_dir) -> dict[str, Path]:
    """{"policy": dir, "reward": dir}: 2-layer Llamas (hidden 64) with the real 49152-token vocabulary."""
    from rlhf.models.tiny import make_tiny_models

    return make_tiny_models(tmp_path_factory.mktemp("tiny"), tokenizer_dir)


@pytest.fixture(scope="session")
def tokenizer(tiny_models):
    from rlhf.models import load_tokenizer

    return load_tokenizer(tiny_models["policy"])


@pytest.fixture(scope="session")
def policy(tiny_models):
    """The tiny policy, loaded once: tests must leave its weights (and eval mode) as they found them."""
    from rlhf.models import load_policy

    return load_policy(tiny_models["policy"])


@pytest.fixture(scope="session")
def reward_model(tiny_models):
    from rlhf.models import load_reward_model

    return load_reward_model(tiny_models["reward"])


class ServiceProcess:
    """A service running as its own process; `target` is host:port, `metrics_url` its /metrics."""

    def __init__(self, name: str, *args: str, env: dict | None = None, timeout: float = 120):
        cmd = [sys.executable, "-m", "pipelines.cli", "serve", name, "--port", "0", "--metrics-port", "0", *args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        self.lines: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{name} exited with {self.proc.wait()} before listening:\n" + "".join(self.lines))
            self.lines.append(line)
            match = LISTENING.search(line)
            if match:
                self.target = f"{match.group(2)}:{match.group(3)}"
                self.metrics_url = match.group(4)
                break
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"{name} did not listen within {timeout}s:\n" + "".join(self.lines))
        # Keep reading so the pipe never fills and blocks the server.
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def terminate(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(5)
        return code


@pytest.fixture(scope="session")
def start_service():
    """start_service(name, *cli_args) -> ServiceProcess; all are stopped at the end of the session."""
    started: list[ServiceProcess] = []

    def start(name: str, *args: str, **kwargs) -> ServiceProcess:
        proc = ServiceProcess(name, *args, **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.terminate()
