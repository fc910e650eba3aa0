"""Shared fixtures: tiny random models with SmolLM2's real tokenizer, and real service processes
on 127.0.0.1 (each started with `python -m pipelines.cli serve ... --port 0`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.processes import ServiceProcess, stop_services
from tests.fixtures_s3 import moto_s3  # noqa: F401  (a session-wide S3 server for the s3:// backend)


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


@pytest.fixture(scope="session")
def start_service():
    """start_service(name, *cli_args) -> ServiceProcess; all are stopped at the end of the session."""
    started: list[ServiceProcess] = []

    def start(name: str, *args: str, **kwargs) -> ServiceProcess:
        proc = ServiceProcess(name, *args, **{"timeout": 120, **kwargs})
        started.append(proc)
        return proc

    yield start
    stop_services(started)
