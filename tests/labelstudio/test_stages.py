"""The stages with people in Label Studio, end to end on tiny models behind real services:
`rlhf label` (label.source=label-studio) samples K completions per prompt from the SFT policy and
pushes them, a labeler ranks them all, and a rerun that waits syncs them; `rlhf eval`
(eval.human=label-studio) pushes blind pairs and folds the labelers' answers into the report."""

from __future__ import annotations

import json

import pytest

from pipelines import labelstudio as ls
from pipelines.evaluate import evaluate
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
    # Waiting in vain: nothing ranked within the time, said before the RM would look for the set.
    config.label.label_studio.wait_timeout_s = 0.5
    with pytest.raises(ls.LabelStudioError, match=r"no training prompt of project 'stage' was ranked within "
                                                  r"label.label_studio.wait_timeout_s=0.5s"):
        label(config)
    for task in tasks:
        submit(client_as(label_studio, LABELERS[0]), task, [2, 0, 1], rating=4)

    config.label.label_studio.wait_timeout_s = 30
    assert label(config) == {"sizes": {"train": 3, "heldout": 2}, "tasks": 5, "annotated_tasks": 5, "skipped": 0,
                             "agreement": None, "compared_pairs": 0, "per_labeler": {}}
    assert len(admin.tasks(project)) == 5  # the rerun pushed nothing new
    with DataStoreClient(f"127.0.0.1:{config.services.data_store.port}") as store:
        records = store.read_records("comparisons/stage/train")
    assert {r["ranking"] == [2, 0, 1] and r["rating"] == 4 and r["labeler"] == LABELERS[0] for r in records} == {True}


def test_eval_pushes_blind_pairs_and_reports_the_human_win_rate(config, label_studio, tiny_models, tmp_path):
    config.eval.reference_model = str(tiny_models["policy"])
    config.eval.policies = {"PPO": str(tiny_models["policy"])}
    config.eval.max_prompts, config.eval.max_general, config.eval.max_new_tokens = 4, 2, 6  # 4 held-out prompts
    config.eval.report_dir, config.eval.rm_summary = str(tmp_path), str(tmp_path / "none.json")
    config.eval.human, config.eval.seed = "label-studio", 2  # seed 2 shows PPO's answer as A in 3 of the 4 pairs
    config.label.label_studio.eval_project, config.label.label_studio.wait_timeout_s = "stage-eval", 0
    report = evaluate(config)
    assert report["policies"]["PPO"]["human_judgments"] == 0 and report["policies"]["PPO"]["human_win_rate"] is None
    assert "human_judgments" not in report["policies"]["SFT"]  # SFT is not judged against itself

    # A labeler who always answers "A": PPO wins exactly the pairs where its answer was shown as A.
    admin = client_as(label_studio, ADMIN)
    project = admin.find_project("stage-eval")
    key = json.loads((tmp_path / "human_eval_key.json").read_text())
    for task in admin.tasks(project):
        result = [{"from_name": "preference", "to_name": "prompt", "type": "choices", "value": {"choices": ["A"]}}]
        client_as(label_studio, LABELERS[1]).call("POST", f"/api/tasks/{task['id']}/annotations/", {"result": result})
    shown_first = sum(entry["policy_side"] == "A" for entry in key.values())
    assert len(key) == 4 and 0 < shown_first < 4  # both sides used, so "always A" is not "always PPO"

    report = evaluate(config)
    ppo = report["policies"]["PPO"]
    assert (ppo["human_judgments"], ppo["human_win_rate"]) == (4, shown_first / 4)
    assert ppo["human_win_rate_low"] < ppo["human_win_rate"] < ppo["human_win_rate_high"]
    assert "Human win rate vs SFT" in (tmp_path / "report.md").read_text()
