"""The PPO trainer through the real services: exact resume, 2-worker DDP, clear failures."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from pipelines.ppo import train_ppo
from rlhf.clients.base import ServiceError
from rlhf.clients.data_store import DataStoreClient
from tests.integration.stack import start_stack, tiny_ppo

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def stack(start_service, tiny_models, tmp_path_factory):
    return start_stack(start_service, tiny_models, tmp_path_factory.mktemp("store"), "--no-bf16-autocast")


def weights(path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


def test_resume_gives_identical_weights(stack, tiny_models, tmp_path):
    straight = tiny_ppo(copy.deepcopy(stack), tiny_models, tmp_path / "straight", steps=4, run_name="straight")
    train_ppo(straight)
    first = tiny_ppo(copy.deepcopy(stack), tiny_models, tmp_path / "half", steps=2, run_name="resumed")
    train_ppo(first)
    second = tiny_ppo(copy.deepcopy(stack), tiny_models, tmp_path / "resumed", steps=4, run_name="resumed",
                      resume=True)
    train_ppo(second)

    a, b, init = weights(tmp_path / "straight"), weights(tmp_path / "resumed"), weights(tiny_models["policy"])
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "2 + resume + 2 steps differ from 4 straight steps"
    assert any(not torch.equal(a[k], init[k]) for k in init), "PPO did not change the policy"
    rows = [json.loads(line) for line in (tmp_path / "resumed_metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3, 4]
    # Steps 2 and 4 were checkpointed; with keep_checkpoints=1 (the default) only the current one is left.
    with DataStoreClient(f"127.0.0.1:{stack.services.data_store.port}") as store:
        assert [o.key for o in store.list("checkpoints/straight/")] == [
            "checkpoints/straight/latest.json", "checkpoints/straight/step-000004/__0_0.distcp",
            "checkpoints/straight/step-000004/metadata", "checkpoints/straight/step-000004/trainer.pt"]
    assert all(torch.isfinite(torch.tensor([r["reward_mean"], r["kl"], r["policy_loss"]])).all() for r in rows)
    # The policy's and the value model's clip fractions are logged apart, each a fraction of tokens.
    assert all(0.0 <= r["clipfrac"] <= 1.0 and 0.0 <= r["value_clipfrac"] <= 1.0 for r in rows)


def test_ptx_rows_add_the_pretraining_loss(stack, tiny_models, tmp_path):
    config = tiny_ppo(copy.deepcopy(stack), tiny_models, tmp_path / "ptx", steps=1, run_name="ptx",
                      ptx_coef=0.5, ptx_batch_size=2)
    train_ppo(config)
    (row,) = [json.loads(line) for line in (tmp_path / "ptx_metrics.jsonl").read_text().splitlines()]
    # A random tiny model predicts the ~49k-token vocabulary near uniformly: the LM loss is ~ln(49152).
    assert 9.0 < row["ptx_loss"] < 12.0


def test_two_workers_end_with_identical_weights(stack, tiny_models, tmp_path):
    config = tiny_ppo(copy.deepcopy(stack), tiny_models, tmp_path / "ddp", steps=2, run_name="ddp")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(dataclasses.asdict(config)))
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "pipelines.cli", "train", "ppo", "--config", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # Both ranks print into one pipe, so a line of one may run into the other's: match, not split.
    revisions = dict(re.findall(r"ppo: rank (\d) policy revision ([0-9a-f]{16})", result.stdout))
    assert set(revisions) == {"0", "1"}, result.stdout
    assert revisions["0"] == revisions["1"]
    trained, init = weights(tmp_path / "ddp"), weights(tiny_models["policy"])
    # ppo.frozen_fraction 0.5 of the tiny model's 2 layers: layer 0 keeps the SFT weights, layer 1 trains.
    q_proj = "model.layers.{}.self_attn.q_proj.weight"
    assert torch.equal(trained[q_proj.format(0)], init[q_proj.format(0)])
    assert not torch.equal(trained[q_proj.format(1)], init[q_proj.format(1)])


def test_unreachable_service_fails_clearly_without_a_checkpoint(stack, tiny_models, tmp_path):
    config = tiny_ppo(copy.deepcopy(stack), tiny_models, tmp_path / "dead", steps=2, run_name="dead")
    config.services.reward_scoring.port = 1  # nothing listens there
    config.clients.retry_budget_s = 1.0
    with pytest.raises(ServiceError, match=r"reward-scoring\.Score at 127\.0\.0\.1:1 failed: UNAVAILABLE"):
        train_ppo(config)
    with DataStoreClient(f"127.0.0.1:{stack.services.data_store.port}") as store:
        assert store.list("checkpoints/dead") == []
    assert not (tmp_path / "dead").exists()


def test_a_missing_dataset_fails_the_stage_clearly_and_writes_nothing(stack, tiny_models, tmp_path):
    from pipelines.sft import train_sft

    config = copy.deepcopy(stack)
    config.sft.base_model, config.sft.demonstrations = str(tiny_models["policy"]), "nope"
    config.sft.output_dir = str(tmp_path / "sft")
    with pytest.raises(ServiceError, match=r"data-store\.ReadRecords .*NOT_FOUND: set 'nope': no such record set"):
        train_sft(config)
    assert not (tmp_path / "sft").exists()

    config = tiny_ppo(copy.deepcopy(stack), tiny_models, tmp_path / "ppo", steps=2, run_name="nodata", prompts="nope")
    with pytest.raises(ServiceError, match=r"SampleRecords .*NOT_FOUND: set 'nope'"):
        train_ppo(config)
    with DataStoreClient(f"127.0.0.1:{stack.services.data_store.port}") as store:
        assert store.list("checkpoints/nodata") == []


def test_first_step_policy_matches_reference_and_generator(stack, tiny_models, tmp_path):
    # At step 1 the policy is the reference model: in fp32, the trainer's own log-probs must equal the
    # reference-kl service's (KL 0) and the generator's (no drift), token for token.
    config = tiny_ppo(copy.deepcopy(stack), tiny_models, tmp_path / "exact", steps=1, run_name="exact",
                      bf16_autocast=False, push_dtype="float32")
    train_ppo(config)
    (row,) = [json.loads(line) for line in (tmp_path / "exact_metrics.jsonl").read_text().splitlines()]
    assert abs(row["kl"]) < 1e-4, row
    assert row["logprob_drift"] < 1e-4, row


def test_sampling_below_1_trains_the_tempered_policy_and_ptx_at_1(stack, tiny_models, tmp_path):
    # At 0.7 the trainer's log-probs and the reference's are both softmax(logits / 0.7): KL 0 at step
    # 1. The ptx rows, in the same forward, are scored by the model's own distribution, so their
    # loss at step 1 (the same model, the same texts: one minibatch, before any update) does not depend
    # on the rollout temperature.
    rows = {}
    for temperature in (1.0, 0.7):
        name = f"t{temperature:g}".replace(".", "")
        config = tiny_ppo(copy.deepcopy(stack), tiny_models, tmp_path / name, steps=1, run_name=name,
                          temperature=temperature, ptx_coef=0.5, ptx_batch_size=2, minibatch_size=4, bf16_autocast=False,
                          push_dtype="float32")
        train_ppo(config)
        (rows[temperature],) = [json.loads(line) for line in (tmp_path / f"{name}_metrics.jsonl").read_text().splitlines()]
    assert abs(rows[0.7]["kl"]) < 1e-4, rows[0.7]
    assert "logprob_drift" not in rows[0.7] and rows[1.0]["logprob_drift"] < 1e-4  # the generator's are at 1
    assert rows[0.7]["ptx_loss"] == pytest.approx(rows[1.0]["ptx_loss"], abs=1e-4)


def test_first_step_kl_is_zero_on_the_default_numeric_path(start_service, tiny_models, tmp_path):
    # The trainer and reference-kl both compute under bf16 autocast where the CPU has native bf16
    # (both in fp32 where not), so the KL penalty starts at 0 instead of at their rounding gap.
    stack = start_stack(start_service, tiny_models, tmp_path / "store")
    config = tiny_ppo(stack, tiny_models, tmp_path / "default", steps=1, run_name="default")
    assert config.ppo.bf16_autocast
    train_ppo(config)
    (row,) = [json.loads(line) for line in (tmp_path / "default_metrics.jsonl").read_text().splitlines()]
    assert abs(row["kl"]) < 1e-4, row
