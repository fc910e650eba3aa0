"""The fault suite's shared pieces: the four services on tiny models under the `rlhf run`
Supervisor (a killed one comes back on its port), and waiting on real processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from pipelines.processes import ServiceProcess, Supervisor
from rlhf.config import Config
from tests.integration.stack import start_stack


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(0.02)


def restarted(supervisor: Supervisor, name: str, old: ServiceProcess, timeout: float = 120) -> ServiceProcess:
    """Waits until the supervisor has the service `name` listening again in a new process."""
    wait_for(lambda: supervisor[name] is not old and bool(supervisor[name].target), timeout, f"{name} restarted")
    return supervisor[name]


def kill(proc: ServiceProcess, sig: int = signal.SIGKILL) -> None:
    os.kill(proc.proc.pid, sig)


@pytest.fixture(scope="module")
def supervised(tiny_models, tmp_path_factory):
    """(Supervisor, Config): data-store, policy-inference, reference-kl and reward-scoring on tiny
    models with small record sets, keyed by service name in the supervisor. The model services
    compute in fp32 (test_restarts.py's trainer too): the suite compares weights bit for bit, and
    with bf16 autocast on, a run through a reward-scoring restart once ended with other weights in CI."""
    logs = tmp_path_factory.mktemp("logs")
    with Supervisor() as supervisor:
        def start(name: str, *args: str) -> ServiceProcess:
            supervisor.services[name] = ServiceProcess(name, *args, timeout=120, log_path=Path(logs) / f"{name}.log")
            return supervisor.services[name]

        config: Config = start_stack(start, tiny_models, tmp_path_factory.mktemp("store"), "--no-bf16-autocast")
        yield supervisor, config
