"""services.policyInference.engine: vllm runs policy-inference from the vLLM image with --engine vllm;
nothing else changes, and the schema refuses an engine it does not know."""

from __future__ import annotations

import pytest

import chartlib
from rlhf.config import PPOConfig


def containers(objects: list[dict]) -> dict[str, dict]:
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]
            for d in chartlib.find(objects, "Deployment")}


def policy_inference(objects: list[dict]) -> dict:
    (container,) = [c for name, c in containers(objects).items() if name.endswith("-policy-inference")]
    return container


def test_the_default_engine_is_hf_from_the_main_image():
    objects = chartlib.render_values({})
    for container in containers(objects).values():
        assert "--engine" not in container["args"]
        assert not container["image"].endswith("-vllm")


def test_vllm_engine_uses_the_vllm_image_and_flag_for_policy_inference_only():
    default = containers(chartlib.render_values({}))
    objects = chartlib.render_values({"services": {"policyInference": {"engine": "vllm"}}})
    container = policy_inference(objects)
    main_image = policy_inference(chartlib.render_values({}))["image"]
    assert container["image"] == main_image + "-vllm"
    assert container["args"][container["args"].index("--engine") + 1] == "vllm"
    for name, other in containers(objects).items():
        if not name.endswith("-policy-inference"):
            assert other == default[name]

    custom = chartlib.render_values({"services": {"policyInference": {"engine": "vllm",
                                                                      "vllmImage": "registry.example/rlhf:1-vllm"}}})
    assert policy_inference(custom)["image"] == "registry.example/rlhf:1-vllm"


def test_schema_refuses_an_unknown_engine():
    import helm_python

    with pytest.raises(helm_python.HelmValuesError) as info:
        chartlib.chart().validate_schema({"services": {"policyInference": {"engine": "sglang"}}})
    assert "/services/policyInference/engine" in str(info.value)


def max_lora_rank(objects: list[dict]) -> str | None:
    args = policy_inference(objects)["args"]
    return args[args.index("--max-lora-rank") + 1] if "--max-lora-rank" in args else None


def test_vllm_sets_lora_memory_aside_for_the_rank_ppo_trains():
    vllm = {"policyInference": {"engine": "vllm"}}
    default_rank = PPOConfig().lora.rank
    assert max_lora_rank(chartlib.render_values({"services": vllm})) == str(default_rank)  # the default PPO trains
    no_lora = {"config": {"ppo": {"lora": {"rank": 0}}}}
    assert max_lora_rank(chartlib.render_values({"services": vllm, **no_lora})) is None  # none reserved
    lora = {"config": {"ppo": {"lora": {"rank": 12}}}}
    assert max_lora_rank(chartlib.render_values({"services": vllm, **lora})) == "16"  # the next vLLM takes
    assert max_lora_rank(chartlib.render_values(lora)) is None  # "hf" merges any rank
    explicit = {"policyInference": {"engine": "vllm", "maxLoraRank": 64}}
    assert max_lora_rank(chartlib.render_values({"services": explicit, **lora})) == "64"
