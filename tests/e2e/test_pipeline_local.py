"""`rlhf pipeline run-local`: the Kubeflow pipeline through kfp.local.SubprocessRunner with tiny
models, on a team's own data (every data URI a pipeline parameter, rankings imported); every step
starts its services on 127.0.0.1 and hands models on as store URIs."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from tests.e2e.own_data import write_own_data
from tests.e2e.test_run import ROOT, TINY


def test_pipeline_runs_locally_on_own_data_and_emits_finite_metrics(tiny_models, tmp_path):
    files = write_own_data(tmp_path)
    params = {"base_model": str(tiny_models["policy"]), "demonstrations_uri": files["demonstrations"],
              "prompts_uri": files["prompts/train"], "heldout_prompts_uri": files["prompts/heldout"],
              "comparisons_uri": files["comparisons/train"],
              "heldout_comparisons_uri": f"file://{files['comparisons/heldout']}", "label_source": "import",
              "ppo_steps": 2, "beta": "1e-5", "ptx_coef": 0.3, "gpus_per_worker": 0}
    cmd = [sys.executable, "-m", "pipelines.cli", "pipeline", "run-local", "--run-id", "own",
           "--set", f"run.runs_dir={tmp_path / 'runs'}", "--set", "eval.samples_per_prompt=2"]
    cmd += [a for name, value in params.items() for a in ("--param", f"{name}={value}")]
    cmd += [a for item in TINY if not item.startswith("ppo.steps=") for a in ("--set", item)]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    run_dir = tmp_path / "runs" / "pipeline-own"
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
    # The markdown report kfp shows in the UI is the evaluation's report; no prompt has constraints,
    # so the reward model judged, and the report names the imported comparisons.
    markdown = next((run_dir / "kfp").glob("rlhf-alignment-*/evaluate/report")).read_text()
    assert markdown == (runs[0] / "report" / "report.md").read_text() and "| PPO |" in markdown
    assert "2 completions per prompt and policy" in markdown and "judged by the reward model" in markdown
    assert str(files["comparisons/train"]) in markdown
    # PPO ran with the pipeline's parameters (a float in scientific notation too), checkpointing under
    # the run's own name.
    rows = [json.loads(line) for line in (runs[0] / "models/ppo/training_metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and {r["kl_coef"] for r in rows} == {1e-5}
    assert all("ptx_loss" in r for r in rows)
    assert (run_dir / "store" / "checkpoints" / f"pipeline-{runs[0].name}" / "latest.json").exists()
    # The rankings were imported into the run's own record sets, not sampled: pairwise stored as K = 2.
    comparisons = run_dir / "store" / "records" / "comparisons" / "pipelines" / runs[0].name / "train.jsonl"
    assert [len(json.loads(line)["completions"]) for line in comparisons.read_text().splitlines()] == [3, 2] * 6
