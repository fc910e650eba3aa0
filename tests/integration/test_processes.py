"""pipelines.processes: `--engine vllm` services start in the vLLM environment when this one has none."""

from __future__ import annotations

import importlib.util

import pytest

from pipelines.processes import VLLM_PYTHON, start_service
from rlhf.clients.policy_inference import PolicyInferenceClient


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="this environment has vllm itself")
@pytest.mark.skipif(not VLLM_PYTHON.exists(), reason="no vLLM environment (make vllm-env; make test builds it)")
def test_a_vllm_policy_inference_runs_in_the_vllm_environment(tmp_path_factory, tokenizer_dir):
    from rlhf.models.tiny import make_tiny_models

    # vLLM's CPU attention needs a head size of 32 or more: 2 heads of 32.
    policy = make_tiny_models(tmp_path_factory.mktemp("tiny32"), tokenizer_dir, num_attention_heads=2,
                              num_key_value_heads=1)["policy"]
    proc = start_service("policy_inference", "--model", str(policy), "--engine", "vllm", timeout=300)
    try:
        assert proc.python == str(VLLM_PYTHON)
        with PolicyInferenceClient(proc.target, timeout=120) as client:
            assert len(client.generate(["Hi"], max_new_tokens=3, seed=1).completion_ids[0]) == 3
    finally:
        proc.terminate()
