"""One real Label Studio server per test session, shared by every test here (each test uses its
own project). Skipped, saying why, only where its environment was not built."""

from __future__ import annotations

import pytest

from rlhf.clients.data_store import DataStoreClient
from tests.labelstudio.server import LS_BIN, LabelStudioServer


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory) -> LabelStudioServer:
    if not LS_BIN.exists():
        pytest.skip(f"Label Studio's environment is absent ({LS_BIN}); `make label-studio-env` builds it "
                    "(`make test` does)")
    server = LabelStudioServer(tmp_path_factory.mktemp("label-studio"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def store(tmp_path_factory, start_service):
    """A real data-store where sync writes the record sets."""
    service = start_service("data-store", "--store", f"file://{tmp_path_factory.mktemp('ls-store')}")
    with DataStoreClient(service.target, timeout=30, retries=0) as client:
        client.wait_ready()
        yield client
