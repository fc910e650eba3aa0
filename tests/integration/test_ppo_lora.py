"""PPO with LoRA through the real services: only adapters are pushed and checkpointed, the served
policy is the base with the adapter merged, and a resumed run is bit for bit the straight one."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch.distributed.checkpoint import FileSystemReader

from pipelines.evaluate import push_policy
from pipelines.ppo import train_ppo
from rlhf.clients.data_store import DataStoreClient
from rlhf.clients.policy_inference import PolicyInferenceClient
from rlhf.config import LoraConfig
from rlhf.models import load_policy, weights_revision
from rlhf.models.scoring import instruction_ids
from tests.integration.stack import start_stack, tiny_ppo

LORA = LoraConfig(rank=4, alpha=8.0)


@pytest.fixture(scope="module")
def stack(start_service, tiny_models, tmp_path_factory):
    return start_stack(start_service, tiny_models, tmp_path_factory.mktemp("store"), "--no-bf16-autocast")


def lora_ppo(stack, tiny_models, out, **overrides):
    return tiny_ppo(copy.deepcopy(stack), tiny_models, out, lora=copy.deepcopy(LORA), push_dtype="float32",
                    bf16_autocast=False, **overrides)


def test_lora_ppo_pushes_adapters_and_resumes_bit_for_bit(stack, tiny_models, tmp_path):
    train_ppo(lora_ppo(stack, tiny_models, tmp_path / "straight", steps=4, run_name="lora-straight"))
    with PolicyInferenceClient(f"127.0.0.1:{stack.services.policy_inference.port}") as client:
        served = client.info().revision
    train_ppo(lora_ppo(stack, tiny_models, tmp_path / "half", steps=2, run_name="lora-resumed"))
    train_ppo(lora_ppo(stack, tiny_models, tmp_path / "resumed", steps=4, run_name="lora-resumed", resume=True))

    straight, resumed = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("straight", "resumed"))
    init = load_file(str(tiny_models["policy"] / "model.safetensors"))
    assert straight.keys() == init.keys()  # the exported model is the plain one, adapters merged
    assert all(torch.equal(straight[k], resumed[k]) for k in straight), "2 + resume + 2 LoRA steps differ"
    changed = {k for k in init if not torch.equal(straight[k], init[k])}
    assert changed and all(k.split(".")[-2] in LORA.target_modules for k in changed), sorted(changed)[:3]

    adapter = load_file(str(tmp_path / "straight" / "adapter" / "adapter_model.safetensors"))
    assert adapter and all(".lora_A." in k or ".lora_B." in k for k in adapter)
    assert json.loads((tmp_path / "straight" / "adapter" / "adapter_config.json").read_text())["r"] == LORA.rank
    # The service merged the pushed adapter into its base exactly as the export did.
    assert served == weights_revision(load_policy(tmp_path / "straight"))

    rows = [json.loads(line) for line in (tmp_path / "straight_metrics.jsonl").read_text().splitlines()]
    # Each step samples from the adapter pushed after the previous one: the generator's log-probs
    # (merged weights) equal the trainer's (W x + s B A x) up to float rounding.
    assert all(row["logprob_drift"] < 1e-4 for row in rows), [row["logprob_drift"] for row in rows]

    # The checkpoint holds the adapters, the value head and their optimizer state, not the base.
    with DataStoreClient(f"127.0.0.1:{stack.services.data_store.port}") as store:
        for obj in store.list("checkpoints/lora-straight/step-000004/"):
            name = obj.key.rsplit("/", 1)[1]
            store.get_to_file(obj.key, tmp_path / "ckpt" / ("." + name if name == "metadata" else name))
    keys = FileSystemReader(str(tmp_path / "ckpt")).read_metadata().state_dict_metadata
    model_keys = {k for k in keys if ".model." in k or k.endswith(".model")}
    weights_saved = {k.split(".model.", 1)[1] for k in keys if k.startswith(("policy.model.", "value.model."))}
    assert model_keys and weights_saved
    assert all(".lora_" in k or k.startswith("score.") for k in weights_saved), sorted(weights_saved)[:5]


def test_frozen_fraction_trains_only_the_upper_layers(stack, tiny_models, tmp_path, capfd):
    train_ppo(lora_ppo(stack, tiny_models, tmp_path / "upper", steps=2, run_name="lora-upper", frozen_fraction=0.5))
    trained = load_file(str(tmp_path / "upper" / "model.safetensors"))
    init = load_file(str(tiny_models["policy"] / "model.safetensors"))
    changed = {k for k in init if not torch.equal(trained[k], init[k])}
    # The tiny model has 2 decoder layers: layer 0 keeps the SFT weights, layer 1's adapters train.
    assert changed and all(k.startswith("model.layers.1.") for k in changed), sorted(changed)
    assert "the lowest 1 of 2 decoder layers frozen" in capfd.readouterr().out


def test_a_service_on_another_base_gets_the_base_whole_first(stack, tiny_models, tmp_path, capfd):
    """Another trainer pushed whole weights: an adapter for the SFT base would apply to them. The
    service refuses it (base revision), the trainer pushes its base whole, then the adapter."""
    other = load_policy(tiny_models["policy"])
    with torch.no_grad():
        for tensor in other.state_dict().values():
            tensor.add_(0.05)
    with PolicyInferenceClient(f"127.0.0.1:{stack.services.policy_inference.port}") as client:
        client.update_weights(other.state_dict())
    train_ppo(lora_ppo(stack, tiny_models, tmp_path / "rebased", steps=2, run_name="lora-rebased"))
    assert "pushing the base whole" in capfd.readouterr().out
    rows = [json.loads(line) for line in (tmp_path / "rebased_metrics.jsonl").read_text().splitlines()]
    assert all(row["logprob_drift"] < 1e-4 for row in rows), [row["logprob_drift"] for row in rows]


def test_eval_pushes_a_lora_policy_as_its_adapter(stack, tiny_models, tmp_path, tokenizer):
    """The eval pushes a LoRA policy as its adapter onto the SFT weights it pushed before, and serves
    what the whole policy serves. The policy goes whole when the service holds another base, and
    when the policy is not that base with its adapter merged."""
    out = tmp_path / "eval-lora"
    train_ppo(lora_ppo(stack, tiny_models, out, steps=1, run_name="lora-eval"))
    sft, policy = load_policy(tiny_models["policy"]), load_policy(out)
    drifted = load_policy(out)  # not SFT + the adapter: as if trained from another SFT model
    with torch.no_grad():
        drifted.model.norm.weight.add_(0.01)
    prompt_ids = instruction_ids(tokenizer, ["Say hi.", "List three fruits."])
    with PolicyInferenceClient(f"127.0.0.1:{stack.services.policy_inference.port}") as client:
        client.update_weights(sft.state_dict())
        assert push_policy(client, drifted, out, sft, weights_revision(sft)) == "whole"
        client.update_weights(sft.state_dict())
        assert push_policy(client, policy, out, sft, weights_revision(sft)) == "adapter"
        from_adapter = client.generate(prompt_ids=prompt_ids, max_new_tokens=8, temperature=0.0)
        client.update_weights(policy.state_dict())
        whole = client.generate(prompt_ids=prompt_ids, max_new_tokens=8, temperature=0.0)
        assert push_policy(client, policy, out, sft, weights_revision(sft)) == "whole"  # it holds the policy
    assert [c.tolist() for c in from_adapter.completion_ids] == [c.tolist() for c in whole.completion_ids]
    np.testing.assert_allclose(np.concatenate(from_adapter.logprobs), np.concatenate(whole.logprobs), atol=1e-5)
