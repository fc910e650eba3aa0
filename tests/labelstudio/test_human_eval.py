"""The human win rate: `rlhf eval` pushes blind pairs (policy vs SFT, sides at random) to a real
Label Studio; whatever side a policy's answer was shown on, the labelers' choices decode back to
that policy, and fold into a win rate with its interval in the report."""

from __future__ import annotations

import json

import pytest

from pipelines import labelstudio as ls
from pipelines.evaluate import human_summary, render_report
from rlhf.config import load_config
from tests.labelstudio.server import ADMIN, LABELERS
from tests.labelstudio.test_rankings import client_as

PROMPTS = [f"Question {i}?" for i in range(8)]
SFT = [f"sft answer {i}" for i in range(8)]
POLICIES = {"PPO": [f"ppo answer {i}" for i in range(8)], "PPO-ptx": [f"ptx answer {i}" for i in range(8)]}


def answer(client: ls.LabelStudio, task: dict, choice: str) -> None:
    result = [{"from_name": ls.PREFERENCE, "to_name": "prompt", "type": "choices", "value": {"choices": [choice]}}]
    client.call("POST", f"/api/tasks/{task['id']}/annotations/", {"result": result})


def side_of(task: dict, prefix: str) -> str:
    return "A" if task["data"]["a"].startswith(prefix) else "B"


def test_blind_pairs_decode_to_the_right_policy_whatever_the_displayed_order(label_studio, tmp_path):
    cfg = load_config(overrides=[f"label.label_studio.url={label_studio.url}",
                                 "label.label_studio.eval_project=blind-eval"]).label.label_studio
    admin = client_as(label_studio, ADMIN)
    key_path = tmp_path / "human_eval_key.json"
    project, key = ls.push_blind_pairs(admin, cfg, PROMPTS, SFT, POLICIES, seed=3, key_path=key_path)
    assert json.loads(key_path.read_text()) == key and len(key) == 16
    tasks = admin.tasks(project)
    # Blind: a task names neither policy, and each policy was shown on both sides.
    assert all(set(t["data"]) == {"prompt", "a", "b", "pair"} for t in tasks)
    sides = {(key[t["data"]["pair"]]["policy"], side_of(t, "sft")) for t in tasks}
    assert sides == {(p, s) for p in POLICIES for s in "AB"}

    # One labeler always prefers PPO's answer; for PPO-ptx they prefer SFT's, except one tie.
    labeler = client_as(label_studio, LABELERS[0])
    ptx_tasks = [t for t in tasks if t["data"]["b"].startswith("ptx") or t["data"]["a"].startswith("ptx")]
    for task in tasks:
        if task in ptx_tasks:
            answer(labeler, task, ls.TIE if task is ptx_tasks[0] else side_of(task, "sft"))
        else:
            answer(labeler, task, side_of(task, "ppo"))

    # A rerun finds the project and the key: nothing is pushed twice.
    again, same_key = ls.push_blind_pairs(admin, cfg, PROMPTS, SFT, POLICIES, seed=99, key_path=key_path)
    assert again["id"] == project["id"] and same_key == key and len(admin.tasks(project)) == 16

    counts = ls.human_win_rates(admin, project, key)
    assert counts == {"PPO": {"wins": 8.0, "judgments": 8}, "PPO-ptx": {"wins": 0.5, "judgments": 8}}
    ppo = human_summary(counts["PPO"])
    assert ppo["human_win_rate"] == 1.0 and ppo["human_win_rate_low"] == pytest.approx(0.676, abs=1e-3)


def test_an_eval_project_without_its_key_is_refused(label_studio, tmp_path):
    cfg = load_config(overrides=[f"label.label_studio.url={label_studio.url}",
                                 "label.label_studio.eval_project=keyless-eval"]).label.label_studio
    admin = client_as(label_studio, ADMIN)
    ls.push_blind_pairs(admin, cfg, PROMPTS[:2], SFT[:2], {"PPO": POLICIES["PPO"][:2]}, 0, tmp_path / "k.json")
    with pytest.raises(ls.LabelStudioError, match=r"project 'keyless-eval' already holds tasks, but their key .*"
                                                  r"other\.json is missing"):
        ls.push_blind_pairs(admin, cfg, PROMPTS[:2], SFT[:2], {"PPO": POLICIES["PPO"][:2]}, 0, tmp_path / "other.json")


def test_the_report_shows_the_human_win_rate_next_to_the_automatic_one():
    ppo = {"win_rate": 0.6, "win_rate_low": 0.4, "win_rate_high": 0.8, "ties": 0, "constraint_satisfaction": None,
           "all_constraints_met": None, "satisfaction_by_type": {}, "reward_mean": 0.1, "kl_to_sft": 0.2,
           "perplexity": 9.0, **human_summary({"wins": 3.5, "judgments": 5})}
    report = {"rm_heldout_accuracy": None, "heldout_prompts": 5, "constrained_prompts": 0, "general_texts": 0,
              "examples": [], "policies": {"PPO": ppo},
              "run": {"run_id": "r", "base_model": "m", "config_hash": "h", "data": {}, "prompts": "p", "temperature": 0.7,
                      "samples_per_prompt": 1, "seeds": {"sft": 0}, "judge": "j"}}
    text = render_report(report, [])
    assert "| PPO | 70.0% [" in text and "| 5 | 60.0% |" in text
