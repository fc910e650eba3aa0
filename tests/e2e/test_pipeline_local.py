"""`rlhf pipeline run-local`: the Kubeflow pipeline through kfp.local.SubprocessRunner with tiny
models; every step starts its services on 127.0.0.1 and hands models on as store URIs."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from tests.e2e.test_run import ROOT, TINY


def test_pipeline_runs_locally_and_emits_finite_metrics(tiny_models, tmp_path):
    cmd = [sys.executable, "-m", "pipelines.cli", "pipeline", "run-local", "--run-id", "e2e",
           "--set", f"run.runs_dir={tmp_path}", "--param", f"base_model={tiny_models['policy']}",
           "--param", "k=3", "--param", "ppo_steps=2", "--param", "beta=0.07", "--param", "ptx_coef=0.3",
           "--param", "gpus_per_worker=0", "--set", "eval.samples_per_prompt=2"]
    for item in TINY:
        if not item.startswith(("label.k=", "ppo.steps=")):  # pipeline parameters set these
            cmd += ["--set", item]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    run_dir = tmp_path / "pipeline-e2e"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    expected = {f"{p}_{m}" for p in ("sft", "ppo") for m in
                ("win_rate", "win_rate_low", "win_rate_high", "kl_to_sft", "reward_mean", "perplexity")}
    assert expected | {"ppo_alignment_tax_perplexity", "rm_heldout_accuracy"} == set(metrics)
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    assert metrics["sft_win_rate"] == 0.5 and 0 <= metrics["ppo_win_rate"] <= 1

    # The artifacts live in the store under the run's prefix; steps got them by URI.
    runs = list((run_dir / "store" / "pipelines").iterdir())
    assert len(runs) == 1
    stored = {p.relative_to(runs[0]).as_posix() for p in runs[0].rglob("*") if p.is_file()}
    for name in ("models/sft/config.json", "models/rm/config.json", "models/rm/rm_summary.json",
                 "models/ppo/model.safetensors", "models/ppo/training_metrics.jsonl", "report/report.md",
                 "report/metrics.json"):
        assert name in stored, sorted(stored)
    # The markdown report kfp shows in the UI is the evaluation's report.
    markdown = next((run_dir / "kfp").glob("rlhf-alignment-*/evaluate/report")).read_text()
    assert markdown == (runs[0] / "report" / "report.md").read_text() and "| PPO |" in markdown
    assert "2 completions per prompt and policy" in markdown
    # PPO ran with the pipeline's parameters, checkpointing under the run's own name.
    rows = [json.loads(line) for line in (runs[0] / "models/ppo/training_metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and {r["kl_coef"] for r in rows} == {0.07}
    assert all("ptx_loss" in r for r in rows)
    assert (run_dir / "store" / "checkpoints" / f"pipeline-{runs[0].name}" / "latest.json").exists()
    # Comparisons of K=3 were labelled into the run's own record sets.
    comparisons = run_dir / "store" / "records" / "comparisons" / "pipelines" / runs[0].name / "train.jsonl"
    assert all(len(json.loads(line)["completions"]) == 3 for line in comparisons.read_text().splitlines())
