"""`label.source: label-studio` against a real Label Studio: ranking tasks pushed, two labelers
(one disagreeing) submit through Label Studio's API as its UI does, and `rlhf label sync` stores
K-way rankings with labeler, rating and flags, and reports the pairwise agreement. A server that
cannot be reached, a wrong token or a bad annotation fails naming it, and stores nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pipelines import labelstudio as ls
from pipelines.label import push_ranking_tasks, sync
from rlhf.clients.base import ServiceError
from rlhf.config import load_config
from tests.e2e.test_run import ROOT
from tests.labelstudio.server import ADMIN, LABELERS

ANN, BOB, CAT = LABELERS
PROMPTS = [("Name a colour.", ["Blue.", "A colour.", "Seven."]),
           ("Say hello in French.", ["Bonjour.", "Hello.", "Hallo.", "Salut !"])]
# The truth per prompt, as indices of the sampled completions, best first.
TRUTH = [[0, 1, 2], [0, 3, 2, 1]]


def make_config(label_studio, store, project: str, token_env: str = "RLHF_TEST_LS_TOKEN", **extra):
    port = store.target.rsplit(":", 1)[1]
    return load_config(overrides=[
        "label.source=label-studio", f"label.output=comparisons/{project}", f"services.data_store.port={port}",
        f"label.label_studio.url={label_studio.url}", f"label.label_studio.project={project}",
        f"label.label_studio.token_env={token_env}", "label.label_studio.request_timeout_s=20",
        *[f"label.label_studio.{k}={json.dumps(v)}" for k, v in extra.items()]])


def client_as(label_studio, email: str) -> ls.LabelStudio:
    return ls.LabelStudio(label_studio.url, label_studio.tokens[email], timeout_s=20)


def push(label_studio, project: str, k_max: int = 4, overlap: int = 2, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    tasks = [ls.ranking_task(prompt, completions, "train", rng) for prompt, completions in PROMPTS]
    cfg = load_config(overrides=[f"label.label_studio.project={project}",
                                 f"label.label_studio.overlap={overlap}"]).label.label_studio
    return push_ranking_tasks(client_as(label_studio, ADMIN), cfg, k_max, tasks)


def submit(client: ls.LabelStudio, task: dict, ranking: list[int], rating: int | None = None,
           flags: tuple[str, ...] = ()) -> None:
    """What Label Studio's UI posts for a ranked task (the shape the browser test records): the
    displayed letters in the labeler's order."""
    order = task["data"]["order"]
    letters = [ls.LETTERS[order.index(i)] for i in ranking]
    result = [{"from_name": ls.RANKER, "to_name": ls.LIST, "type": "ranker",
               "value": {"ranker": {ls.RANKER: letters}}}]
    if rating is not None:
        result.append({"from_name": ls.RATING, "to_name": "prompt", "type": "rating", "value": {"rating": rating}})
    if flags:
        result.append({"from_name": ls.FLAG_CHOICES, "to_name": "prompt", "type": "choices",
                       "value": {"choices": list(flags)}})
    client.call("POST", f"/api/tasks/{task['id']}/annotations/", {"result": result})


def project_tasks(label_studio, project: dict) -> list[dict]:
    return sorted(client_as(label_studio, ADMIN).tasks(project), key=lambda t: t["id"])


def stored(store, record_set: str) -> list[dict] | None:
    try:
        return store.read_records(record_set)
    except ServiceError:
        return None


def test_two_labelers_rank_and_sync_stores_kway_rankings_with_labeler_rating_flags_and_agreement(
        label_studio, store, monkeypatch):
    project = push(label_studio, "two-labelers")
    tasks = project_tasks(label_studio, project)
    assert [t["data"]["prompt"] for t in tasks] == [p for p, _ in PROMPTS]
    # Shown in a per-task random order: at least one task is not displayed in sampling order.
    assert any(t["data"]["order"] != sorted(t["data"]["order"]) for t in tasks)
    ann, bob = client_as(label_studio, ANN), client_as(label_studio, BOB)
    submit(ann, tasks[0], TRUTH[0], rating=6, flags=("hallucination",))
    submit(ann, tasks[1], TRUTH[1], rating=7)
    submit(bob, tasks[0], [1, 0, 2], rating=3)   # swaps the top two: 2 of 3 pairs agree
    submit(bob, tasks[1], TRUTH[1], flags=ls.FLAGS[:1])  # all 6 pairs agree

    monkeypatch.setenv("RLHF_TEST_LS_TOKEN", label_studio.tokens[ADMIN])
    summary = sync(make_config(label_studio, store, "two-labelers"))

    assert summary["sizes"] == {"train": 4}
    assert summary["agreement"] == pytest.approx(8 / 9)
    assert summary["per_labeler"] == {ANN: pytest.approx(8 / 9), BOB: pytest.approx(8 / 9)}
    records = {(r["labeler"], r["prompt"]): r for r in store.read_records("comparisons/two-labelers/train")}
    first = records[(ANN, PROMPTS[0][0])]
    assert first["completions"] == PROMPTS[0][1] and first["ranking"] == TRUTH[0]
    assert (first["rating"], first["flags"]) == (6, ["hallucination"])
    assert records[(BOB, PROMPTS[0][0])]["ranking"] == [1, 0, 2]
    assert records[(BOB, PROMPTS[1][0])]["ranking"] == TRUTH[1]
    assert records[(BOB, PROMPTS[1][0])]["rating"] is None
    assert records[(BOB, PROMPTS[1][0])]["flags"] == ["fails to follow the instruction"]


def test_held_out_labelers_rankings_go_to_heldout_only(label_studio, store, monkeypatch):
    project = push(label_studio, "holdout")
    tasks = project_tasks(label_studio, project)
    for task, truth in zip(tasks, TRUTH):
        submit(client_as(label_studio, ANN), task, truth)
        submit(client_as(label_studio, CAT), task, truth)
    monkeypatch.setenv("RLHF_TEST_LS_TOKEN", label_studio.tokens[ADMIN])
    summary = sync(make_config(label_studio, store, "holdout", holdout_labelers=[CAT]))
    assert summary["sizes"] == {"train": 2, "heldout": 2}
    assert summary["agreement"] == 1.0
    assert {r["labeler"] for r in store.read_records("comparisons/holdout/train")} == {ANN}
    assert {r["labeler"] for r in store.read_records("comparisons/holdout/heldout")} == {CAT}


def test_progress_counts_annotations_up_to_the_overlap(label_studio):
    project = push(label_studio, "progress", overlap=2)
    admin = client_as(label_studio, ADMIN)
    assert ls.annotation_progress(admin, project, 2) == (0, 4)
    tasks = project_tasks(label_studio, project)
    submit(client_as(label_studio, ANN), tasks[0], TRUTH[0])
    seen = []
    done = ls.wait_for_annotations(admin, project, 2, timeout_s=0.2, interval_s=0.1,
                                   progress=lambda d, w: seen.append((d, w)))
    assert not done and seen[-1] == (1, 4)


def test_unreachable_server_or_wrong_token_is_named_and_nothing_is_stored(label_studio, store, monkeypatch):
    monkeypatch.setenv("RLHF_TEST_LS_TOKEN", label_studio.tokens[ADMIN])
    config = make_config(label_studio, store, "unreachable")
    config.label.label_studio.url = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(ls.LabelStudioError, match=r"Label Studio at http://127\.0\.0\.1:9 is unreachable"):
        sync(config)
    monkeypatch.setenv("RLHF_TEST_LS_TOKEN", label_studio.tokens[ADMIN][:-4] + "AAAA")
    with pytest.raises(ls.LabelStudioError, match=rf"Label Studio at {label_studio.url} refused the token in "
                                                  r"\$RLHF_TEST_LS_TOKEN"):
        sync(make_config(label_studio, store, "unreachable"))
    monkeypatch.setenv("RLHF_TEST_LS_TOKEN", "0123456789abcdef0123456789abcdef01234567")  # a legacy token
    with pytest.raises(ls.LabelStudioError, match="refused the token"):
        sync(make_config(label_studio, store, "unreachable"))
    monkeypatch.delenv("RLHF_TEST_LS_TOKEN")
    with pytest.raises(ls.LabelStudioError, match=r"no API token: set \$RLHF_TEST_LS_TOKEN"):
        sync(make_config(label_studio, store, "unreachable"))
    assert stored(store, "comparisons/unreachable/train") is None


def test_a_bad_annotation_names_the_task_and_nothing_is_stored(label_studio, store, monkeypatch):
    project = push(label_studio, "bad-annotation")
    tasks = project_tasks(label_studio, project)
    submit(client_as(label_studio, ANN), tasks[0], TRUTH[0])  # a good one, which must not be stored alone
    bad = [{"from_name": ls.RANKER, "to_name": ls.LIST, "type": "ranker", "value": {"ranker": {ls.RANKER: ["A", "Z"]}}}]
    client_as(label_studio, BOB).call("POST", f"/api/tasks/{tasks[1]['id']}/annotations/", {"result": bad})
    monkeypatch.setenv("RLHF_TEST_LS_TOKEN", label_studio.tokens[ADMIN])
    with pytest.raises(ls.LabelStudioError, match=rf"project 'bad-annotation', task {tasks[1]['id']}, annotation "
                                                  rf"\d+ by {BOB}: the ranking \['A', 'Z'\]"):
        sync(make_config(label_studio, store, "bad-annotation"))
    assert stored(store, "comparisons/bad-annotation/train") is None


def test_the_cli_syncs_and_names_a_missing_project(label_studio, store):
    env = {**os.environ, "RLHF_TEST_LS_TOKEN": label_studio.tokens[ADMIN]}
    config = make_config(label_studio, store, "no-such-project")
    args = [sys.executable, "-m", "pipelines.cli", "label", "sync",
            "--set", "label.source=label-studio", "--set", f"label.label_studio.url={label_studio.url}",
            "--set", "label.label_studio.project=no-such-project", "--set", "label.label_studio.token_env=RLHF_TEST_LS_TOKEN",
            "--set", f"services.data_store.port={config.services.data_store.port}"]
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert f"rlhf: Label Studio at {label_studio.url}: no project 'no-such-project'" in done.stderr


def test_a_legacy_token_works_once_the_organization_enables_them(label_studio):
    """What the chart's Label Studio does at its first start (--enable-legacy-api-token): its stages
    then send the Secret's token as `Authorization: Token ...`."""
    admin = client_as(label_studio, ADMIN)
    legacy = ls.LabelStudio(label_studio.url, admin.call("GET", "/api/current-user/token")["token"], timeout_s=20)
    with pytest.raises(ls.LabelStudioError, match="refused the token: .*legacy token authentication has been disabled"):
        legacy.check()
    admin.call("POST", "/api/jwt/settings", {"legacy_api_tokens_enabled": True, "api_tokens_enabled": True})
    try:
        assert legacy.check()["email"] == ADMIN
    finally:
        admin.call("POST", "/api/jwt/settings", {"legacy_api_tokens_enabled": False, "api_tokens_enabled": True})
