"""`rlhf label` with label.source=label-studio end to end: the SFT policy (a tiny model behind a
real policy-inference) samples K completions per prompt, the stage pushes them as ranking tasks,
a labeler ranks them all, and a rerun that waits finds the project done and syncs it."""

from __future__ import annotations

import pytest

from pipelines.label import label
from rlhf.clients.data_store import DataStoreClient
from tests.integration.stack import PROMPTS, start_stack
from tests.labelstudio.server import ADMIN, LABELERS
from tests.labelstudio.test_rankings import client_as, submit


@pytest.fixture(scope="module")
def config(start_service, tiny_models, tmp_path_factory, label_studio, monkeypatch_module):
    config = start_stack(start_service, tiny_models, tmp_path_factory.mktemp("label-stage-store"))
    config.sft.output_dir = str(tiny_models["policy"])
    cfg = config.label
    cfg.source, cfg.k, cfg.num_prompts, cfg.num_heldout, cfg.max_new_tokens = "label-studio", 3, 3, 2, 6
    cfg.output = "comparisons/stage"
    cfg.label_studio.url, cfg.label_studio.project = label_studio.url, "stage"
    cfg.label_studio.token_env, cfg.label_studio.poll_interval_s = "RLHF_TEST_LS_TOKEN", 0.2
    monkeypatch_module.setenv("RLHF_TEST_LS_TOKEN", label_studio.tokens[ADMIN])
    return config


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_label_pushes_samples_then_a_waiting_rerun_syncs_the_rankings(config, label_studio):
    assert label(config) == {}  # wait_timeout_s = 0: pushed, nothing to store yet
    admin = client_as(label_studio, ADMIN)
    project = admin.find_project("stage")
    tasks = admin.tasks(project)
    assert len(tasks) == 5 and {t["data"]["split"] for t in tasks} == {"train", "heldout"}
    prompts = {p["prompt"] for p in PROMPTS}
    assert all(t["data"]["prompt"] in prompts and len(t["data"]["completions"]) == 3 for t in tasks)
    for task in tasks:
        submit(client_as(label_studio, LABELERS[0]), task, [2, 0, 1], rating=4)

    config.label.label_studio.wait_timeout_s = 30
    assert label(config) == {"sizes": {"train": 3, "heldout": 2}, "tasks": 5, "annotated_tasks": 5, "skipped": 0,
                             "agreement": None, "compared_pairs": 0, "per_labeler": {}}
    assert len(admin.tasks(project)) == 5  # the rerun pushed nothing new
    with DataStoreClient(f"127.0.0.1:{config.services.data_store.port}") as store:
        records = store.read_records("comparisons/stage/train")
    assert {r["ranking"] == [2, 0, 1] and r["rating"] == 4 and r["labeler"] == LABELERS[0] for r in records} == {True}
