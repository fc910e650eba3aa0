"""`rlhf run` end to end with tiny models: four real service processes, SFT -> label -> RM -> PPO ->
PPO-ptx -> eval, and a report whose every number is finite."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from pipelines.local import PRESETS
from rlhf.labelers import says_something

ROOT = Path(__file__).resolve().parents[2]
TINY = PRESETS["tiny"]


def numbers(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from numbers(value)
    elif isinstance(node, list):
        for value in node:
            yield from numbers(value)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield node


def test_rlhf_run_writes_a_finite_report(tiny_models, tmp_path):
    # As `make demo-seeds` runs it, with one seed: the loop, then the seeds table.
    cmd = [sys.executable, "-m", "pipelines.cli", "run", "--base-model", str(tiny_models["policy"]),
           "--run-id", "e2e", "--seeds", "0", "--set", f"run.runs_dir={tmp_path}"]
    for item in TINY:
        cmd += ["--set", item]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    run_dir = tmp_path / "e2e-seed0"
    report = (run_dir / "report.md").read_text()
    for name in ("SFT", "PPO", "PPO-ptx"):
        assert f"| {name} |" in report
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["policies"]) == {"SFT", "PPO", "PPO-ptx"}
    values = list(numbers({k: v for k, v in metrics.items() if k not in ("examples", "run")}))
    assert values and all(math.isfinite(v) for v in values), metrics
    assert metrics["policies"]["SFT"]["win_rate"] == 0.5 and metrics["policies"]["SFT"]["kl_to_sft"] == 0.0
    # The header names what makes the run: base model, data, seeds, config hash, sampling temperature.
    assert f"base model `{tiny_models['policy']}`" in report and "seeds: sft 0, label 0, rm 0, ppo 0, eval 0" in report
    assert "sampled at temperature 1" in report and "KL estimated on the same samples" in report
    # The demo's prompts have constraints: the labeler judged, and each constraint type is reported.
    assert metrics["run"]["judge"] == "simulated labeler" and "Constraint satisfaction by type" in report
    by_type = metrics["policies"]["PPO"]["satisfaction_by_type"]
    assert by_type and set(by_type) <= {"max_words", "min_words", "bullet_count", "sentence_count", "lowercase",
                                        "uppercase", "include_word", "exclude_word", "start_with", "end_with",
                                        "no_commas"}
    # Every judged answer is kept, and its verdicts add up to the report's win rates and ties.
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    samples_per_prompt = metrics["run"]["samples_per_prompt"]  # the default: 4 per prompt
    assert samples_per_prompt == 4 and len(rows) == metrics["heldout_prompts"] * samples_per_prompt
    assert all(set(r["completions"]) == {"SFT", "PPO", "PPO-ptx"} for r in rows)
    for name in ("PPO", "PPO-ptx"):
        verdicts = [r["outcome_vs_sft"][name] for r in rows]
        assert math.isclose(sum(verdicts) / len(verdicts), metrics["policies"][name]["win_rate"])
        assert verdicts.count(0.5) == metrics["policies"][name]["ties"]
    # The report counts the answers that say something beyond the prompt's own words, per policy.
    assert "| says something | words |" in report
    for name in ("SFT", "PPO", "PPO-ptx"):
        answers = [says_something(r["prompt"], r["completions"][name]) for r in rows]
        assert math.isclose(metrics["policies"][name]["says_something"], sum(answers) / len(answers))
    for plot in ("reward_mean.png", "kl.png", "win_rate.png"):
        assert (run_dir / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Each PPO run logged its steps, with the in-training win rate the plot shows.
    rows = [json.loads(line) for line in (run_dir / "models" / "ppo_metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and all("win_rate" in r for r in rows)
    # The RM froze the SFT model's lower layer, so PPO's value model shares the policy's frozen part.
    assert "value model parameters; the lowest 1 of 2 decoder layers frozen (the policy's, computed once per " \
        "step for both)" in result.stdout
    # PPO-ptx trains at its own learning rate (run.ptx_learning_rate), PPO at ppo.learning_rate.
    assert "run: ppo: ptx_coef 0, policy learning rate 0.0004" in result.stdout
    assert "run: ppo_ptx: ptx_coef 0.2, policy learning rate 0.0006" in result.stdout
    timings = json.loads((run_dir / "timings.json").read_text())
    assert set(timings) == {"sft", "label", "rm", "ppo", "ppo_ptx", "eval"}

    # The seeds table holds the report's numbers; run again, the finished seed is read, not rerun.
    table = (tmp_path / "e2e-seeds.md").read_text()
    assert f"| PPO win_rate | {metrics['policies']['PPO']['win_rate']:.4g} |" in table
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert "sft: wrote" in result.stdout and "seed 0 already finished" in again.stdout and "sft:" not in again.stdout
    assert (tmp_path / "e2e-seeds.md").read_text() == table


def test_rlhf_run_gives_the_services_its_settings(tiny_models, tmp_path):
    """`--set services.<name>.FIELD` reaches the service processes `rlhf run` starts, not only its own
    stages: a policy-inference that takes at most 2 items a call refuses the label stage's first
    Generate (prompts x K), and the run stops with the service's error."""
    cmd = [sys.executable, "-m", "pipelines.cli", "run", "--base-model", str(tiny_models["policy"]),
           "--run-id", "settings", "--set", f"run.runs_dir={tmp_path}",
           "--set", "services.policy_inference.max_items=2"]
    for item in TINY:
        cmd += ["--set", item]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0 and "items in one call, max 2" in result.stdout + result.stderr, \
        result.stdout[-4000:] + result.stderr[-4000:]
    assert "run: sft took" in result.stdout and "run: label took" not in result.stdout
