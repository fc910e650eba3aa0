"""Fixtures of the engine contract tests. They run in the vLLM environment (`make vllm-env`):

    .venv-vllm/bin/python -m pytest --confcutdir tests/vllm tests/vllm

(`--confcutdir` keeps tests/conftest.py, which needs the main environment's test extras, out.) In the
main environment (no vllm) the modules here skip. The tiny models have a head size of 32, the
smallest vLLM's CPU attention supports (tests/conftest.py's have 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.processes import ServiceProcess

TINY = {"num_attention_heads": 2, "num_key_value_heads": 1}  # hidden 64 / 2 heads: head size 32


@pytest.fixture(scope="session")
def tokenizer_dir() -> Path:
    from rlhf.models import smollm2

    return smollm2.tokenizer_dir()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, tokenizer_dir) -> dict[str, Path]:
    from rlhf.models.tiny import make_tiny_models

    return make_tiny_models(tmp_path_factory.mktemp("tiny"), tokenizer_dir, **TINY)


@pytest.fixture(scope="session")
def tokenizer(tiny_models):
    from rlhf.models import load_tokenizer

    return load_tokenizer(tiny_models["policy"])


@pytest.fixture(scope="session")
def policy(tiny_models):
    """The tiny policy, loaded once: tests must leave its weights as they found them."""
    from rlhf.models import load_policy

    return load_policy(tiny_models["policy"])


@pytest.fixture(scope="session")
def start_service():
    """start_service(name, *cli_args) -> ServiceProcess; all are stopped at the end of the session."""
    started: list[ServiceProcess] = []

    def start(name: str, *args: str, **kwargs) -> ServiceProcess:
        proc = ServiceProcess(name, *args, **{"timeout": 300, **kwargs})
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.terminate()
