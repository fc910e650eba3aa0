"""The services the distributed tests train against, started once for the directory."""

from __future__ import annotations

import pytest

from tests.integration.stack import start_stack


@pytest.fixture(scope="session")
def stack(start_service, tiny_models, tmp_path_factory):
    # One sequence per forward pass: what a service returns does not depend on which requests of
    # the two ranks happen to share a batch, so a run repeats bit for bit.
    return start_stack(start_service, tiny_models, tmp_path_factory.mktemp("store"), "--max-batch-size", "1")
