"""PPO through the real services with policy-inference on the vLLM engine: the generator's
log-probs equal the trainer's own (fp32, weights pushed in fp32) at every step, so every step samples
from the weights the trainer pushed into the running engine."""

from __future__ import annotations

import copy
import json

import pytest

pytest.importorskip("vllm", reason="the vLLM environment (make vllm-env) runs these")

from pipelines.ppo import train_ppo  # noqa: E402
from rlhf.clients.policy_inference import PolicyInferenceClient  # noqa: E402
from rlhf.config import Config, LoraConfig  # noqa: E402
from rlhf.models import load_policy, weights_revision  # noqa: E402
from tests.integration.stack import start_stack, tiny_ppo  # noqa: E402


@pytest.fixture(scope="module")
def stack(start_service, tiny_models, tmp_path_factory) -> Config:
    return start_stack(start_service, tiny_models, tmp_path_factory.mktemp("store"), service_args={
        "policy_inference": ["--engine", "vllm", "--max-lora-rank", "8"],
        "reference_kl": ["--torch-threads", "1", "--no-bf16-autocast"],
        "reward_scoring": ["--torch-threads", "1", "--no-bf16-autocast"]})


def test_ppo_samples_from_the_weights_it_pushed_into_vllm(stack, tiny_models, tmp_path):
    config = tiny_ppo(copy.deepcopy(stack), tiny_models, tmp_path / "ppo", steps=3, run_name="vllm",
                      bf16_autocast=False, push_dtype="float32")
    train_ppo(config)
    rows = [json.loads(line) for line in (tmp_path / "ppo_metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3]
    # Step 1 samples the initial weights, steps 2 and 3 the ones pushed after steps 1 and 2: the
    # drift is the mean |generator - trainer| log-prob, ~1e-6 when the engine holds the trainer's
    # weights (lr 1e-3 moves the tiny model by far more than 1e-4 per step).
    assert all(row["logprob_drift"] < 1e-4 for row in rows), [row["logprob_drift"] for row in rows]
    assert abs(rows[0]["kl"]) < 1e-4, rows[0]
    assert [row["policy_version"] for row in rows] == sorted({row["policy_version"] for row in rows})
    with PolicyInferenceClient(f"127.0.0.1:{stack.services.policy_inference.port}") as client:
        info = client.info()
    assert info.version == rows[-1]["policy_version"]
    assert info.revision == weights_revision(load_policy(tmp_path / "ppo"))  # the final policy is serving


def test_lora_ppo_pushes_adapters_vllm_samples_with(stack, tiny_models, tmp_path):
    config = tiny_ppo(copy.deepcopy(stack), tiny_models, tmp_path / "lora", steps=3, run_name="vllm-lora",
                      bf16_autocast=False, push_dtype="float32", lora=LoraConfig(rank=4, alpha=8.0))
    train_ppo(config)
    rows = [json.loads(line) for line in (tmp_path / "lora_metrics.jsonl").read_text().splitlines()]
    # vLLM's LoRA kernels (W x + s B A x) sample what the trainer computes: the adapter pushed after
    # each step is the one the next step samples with.
    assert all(row["logprob_drift"] < 1e-4 for row in rows), [row["logprob_drift"] for row in rows]
    with PolicyInferenceClient(f"127.0.0.1:{stack.services.policy_inference.port}") as client:
        info = client.info()
    assert info.version == rows[-1]["policy_version"]
    assert info.revision == weights_revision(load_policy(tmp_path / "lora"))  # base + adapter, merged
