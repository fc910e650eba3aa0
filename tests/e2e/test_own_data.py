"""A team's first real run on its own data, end to end with real service processes: prompts
without constraints, pairwise and K-way comparisons mixed, chat-form demonstrations, rankings
imported (label.source=import), through `rlhf run --preset tiny` (tests/e2e/test_pipeline_local.py
runs the same data through `rlhf pipeline run-local`)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from tests.e2e.own_data import write_own_data
from tests.e2e.test_run import ROOT, numbers


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_rlhf_run_on_own_data_without_constraints(tmp_path):
    files = write_own_data(tmp_path)
    data = [arg for name, path in files.items() for arg in ("--data", f"{name}={path}")]
    result = run_cli("run", "--preset", "tiny", "--run-id", "own", "--set", f"run.runs_dir={tmp_path / 'runs'}",
                     "--set", "label.source=import", "--set", "ppo.learning_rate=1e-5", *data)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    run_dir = tmp_path / "runs" / "own"
    assert (tmp_path / "runs" / "latest").resolve() == run_dir.resolve()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    values = list(numbers({k: v for k, v in metrics.items() if k not in ("examples", "run")}))
    assert values and all(math.isfinite(v) for v in values), metrics
    # No prompt has constraints: the reward model judged every win, and said so.
    assert metrics["run"]["judge"] == "reward model" and metrics["constrained_prompts"] == 0
    assert all(p["constraint_satisfaction"] is None for p in metrics["policies"].values())
    report = (run_dir / "report.md").read_text()
    assert "judged by the reward model" in report and f"`{metrics['run']['config_hash']}`" in report
    assert f"comparisons/train = {files['comparisons/train']}" in report and "| ties |" in report
    # The imported comparisons trained the RM as they were: 12 prompts, pairwise stored as K = 2.
    store = run_dir / "store" / "records"
    pairs = [json.loads(line) for line in (store / "comparisons" / "train.jsonl").read_text().splitlines()]
    assert [len(p["completions"]) for p in pairs] == [3, 2] * 6
    assert json.loads((run_dir / "models" / "rm_summary.json").read_text())["train_prompts"] == 12
    assert "constraints" not in "".join(p.read_text() for p in store.rglob("*.jsonl"))
    # The console log is kept with the run.
    assert "run: done in" in (run_dir / "console.log").read_text()


def test_bad_settings_fail_before_any_model_loads(tmp_path):
    """Out-of-range values fail at config load, and prompts without constraints fail the simulated
    labeler right after the data import, before SFT: no model directory is ever written."""
    runs = tmp_path / "runs"
    result = run_cli("run", "--run-id", "bad", "--set", f"run.runs_dir={runs}", "--set", "sft.batch_size=0", timeout=60)
    assert result.returncode == 1 and "sft.batch_size: 0 is out of range: must be >= 1" in result.stderr
    assert not runs.exists()

    files = write_own_data(tmp_path)
    result = run_cli("run", "--preset", "tiny", "--run-id", "simulated", "--set", f"run.runs_dir={runs}",
                     "--data", f"prompts/train={files['prompts/train']}", timeout=300)
    assert result.returncode == 1
    assert ("label.source=simulated: record set 'prompts/train' line 1 has no constraints" in result.stderr
            and "label.source=import" in result.stderr), result.stderr[-2000:]
    assert not (runs / "simulated" / "models").exists()
