"""reward-kserve's own server around kserve's public pieces (services/reward_kserve): importing it
leaves the command line alone and keeps kserve from reading our flags; its REST app is its own,
with our routes before kserve's, our error statuses, and kserve's module-global app untouched.
No model is loaded: the routes here answer before any request reaches one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]

IMPORT_WITH_OUR_FLAGS = """
import sys
argv = sys.argv
expected = list(argv)
import services.reward_kserve.server
assert sys.argv is argv and sys.argv == expected, sys.argv
import kserve.model_server
assert kserve.model_server.args.model_name == "model", kserve.model_server.args  # our --model was not read
assert kserve.model_server.args.configure_logging is True
print("imported")
"""


def test_importing_with_our_flags_works_and_leaves_argv_alone():
    """`--config x.yaml` is `--configure_logging` to kserve's import-time argparse (exit 2), and
    `--model` its `--model_name`: kserve must see none of them, and the caller's argv stays."""
    done = subprocess.run([sys.executable, "-c", IMPORT_WITH_OUR_FLAGS, "--config", "x.yaml", "--model", "m"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "imported" in done.stdout, done.stderr[-2000:]


@pytest.fixture
def server():
    from rlhf.config import RewardServingConfig
    from services.auth import Authenticator
    from services.reward import RewardScoringServicer, RewardVersion, reward_batcher
    from services.reward_kserve.model import RewardKServeModel
    from services.reward_kserve.server import RewardServer
    from services.reward_kserve.versions import RewardVersions

    config = RewardServingConfig()
    versions = RewardVersions(config.model_name)
    versions.add(RewardVersion("1", model=None, tokenizer=None, info=None))  # never scores here
    batcher = reward_batcher("test", config)
    model = RewardKServeModel(config.model_name, versions, batcher, config, "test")
    scoring = RewardScoringServicer(versions.get, batcher, config, "test")
    yield RewardServer(config, model, versions, scoring, Authenticator(None, 0, 1), None)
    batcher.close()


def test_the_rest_app_is_ours_and_kserves_is_untouched(server):
    import kserve.model_server

    shared = kserve.model_server.app
    before = (list(shared.routes), dict(shared.exception_handlers), list(shared.user_middleware))
    app = server.app()
    assert app is not shared
    assert (list(shared.routes), dict(shared.exception_handlers), list(shared.user_middleware)) == before
    with TestClient(app) as http:
        assert http.get("/v2/health/ready").json() == {"ready": True}  # kserve's route, our DataPlane
        assert http.get("/v2/health/live").status_code == 200
        assert http.get("/").json() == {"status": "alive"}
        assert http.get("/metrics").headers["content-type"].startswith("text/plain")  # ours, not kserve's
        metadata = http.get("/v2/models/reward")
        assert metadata.status_code == 200
        assert [t["name"] for t in metadata.json()["inputs"]] == ["prompt", "completion"]
        assert metadata.json()["versions"] == ["1"]  # ours: kserve's answers no versions
        pinned = http.get("/v2/models/reward/versions/7")  # ours: kserve's answers 501
        assert pinned.status_code == 404 and "version '7' is not loaded" in pinned.json()["error"]
        missing = http.get("/v2/models/other")  # ModelNotFound, as kserve answers it
        assert missing.status_code == 404 and "other" in missing.json()["error"]
        for path in ("/v2/repository/models/reward/unload", "/v2/repository/models/reward/load"):
            assert http.post(path).status_code == 501  # ours, registered before kserve's
        assert http.get("/v2/models/reward/ready").json() == {"name": "reward", "ready": True}


def test_one_table_maps_errors_for_both_protocols():
    import grpc
    from kserve.errors import InferenceError, InvalidInput, ModelNotFound, ModelNotReady

    from services.reward_kserve.server import STATUSES, kserve_status_of
    from services.reward_kserve.versions import VersionNotFound
    from services.runtime import InvalidArgument, Overloaded

    http = {exc_type: status for types, _, status in STATUSES for exc_type in types}
    expected = {InvalidArgument: 400, InvalidInput: 400, ModelNotFound: 404, VersionNotFound: 404,
                ModelNotReady: 503, NotImplementedError: 501, Overloaded: 429, InferenceError: 500}
    assert {t: http[t] for t in expected} == expected
    assert kserve_status_of(InvalidInput("x")) == (grpc.StatusCode.INVALID_ARGUMENT, "x")
    assert kserve_status_of(VersionNotFound("v")) == (grpc.StatusCode.NOT_FOUND, "v")
    assert kserve_status_of(Overloaded("full"))[0] == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert kserve_status_of(NotImplementedError("no"))[0] == grpc.StatusCode.UNIMPLEMENTED
    assert kserve_status_of(InferenceError("bug")) is None  # INTERNAL, with only the type
