"""rlhf.models.lora: adapters in our model classes, peft's file format, and the one merge both
policy-inference and the export run."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from rlhf import parallel
from rlhf.config import LoraConfig
from rlhf.models import load_policy, load_reward_model, lora, token_scores, weights_revision

CONFIG = LoraConfig(rank=4, alpha=8.0)


def trained(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """As if training had moved the adapters: B is no longer zero."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".lora_B." in name:
                parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator))
    return model


def test_merge_weight_is_w_plus_scaled_ba_in_float64():
    generator = torch.Generator().manual_seed(0)
    w, a, b = (torch.randn(shape, generator=generator) for shape in ((5, 3), (2, 3), (5, 2)))
    expected = w.double() + 1.5 * (b.double() @ a.double())
    torch.testing.assert_close(lora.merge_weight(w, a, b, 1.5).double(), expected, rtol=0, atol=1e-6)
    assert lora.merge_weight(w.bfloat16(), a, b, 1.5).dtype == torch.bfloat16


def test_adapters_train_only_themselves_and_named_heads(tiny_models):
    policy = lora.add_adapters(load_policy(tiny_models["policy"]), CONFIG)
    trainable = [name for name, p in policy.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in name or ".lora_B." in name for name in trainable)
    assert len(trainable) == 2 * 7 * policy.config.num_hidden_layers  # A and B of 7 projections a layer
    value = lora.add_adapters(load_reward_model(tiny_models["reward"]), CONFIG, trainable=["score"])
    assert "score.weight" in [name for name, p in value.named_parameters() if p.requires_grad]
    ids = torch.tensor([[1, 2, 3, 4]])
    plain = load_reward_model(tiny_models["reward"])
    with torch.no_grad():  # B starts at zero: a fresh adapter changes nothing
        torch.testing.assert_close(token_scores(value, ids, torch.ones_like(ids)),
                                   token_scores(plain, ids, torch.ones_like(ids)), rtol=0, atol=1e-6)


def test_the_exported_plain_model_computes_what_the_adapted_one_does(tiny_models, tmp_path):
    adapted = trained(lora.add_adapters(load_policy(tiny_models["policy"]), CONFIG))
    parallel.write_safetensors(tmp_path / "model.safetensors", adapted)
    plain = load_policy(tiny_models["policy"])
    exported = load_file(str(tmp_path / "model.safetensors"))
    assert set(exported) | {"lm_head.weight"} == set(plain.state_dict())  # tied head stored once
    plain.load_state_dict(exported, strict=False)
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        torch.testing.assert_close(plain(ids).logits, adapted(ids).logits, rtol=0, atol=1e-5)
    assert parallel.revision(adapted) == weights_revision(plain)


def test_the_adapter_file_is_peft_format(tiny_models, tmp_path):
    """peft itself loads what a push sends (vLLM reads the same files) and computes the same model."""
    import peft

    adapted = trained(lora.add_adapters(load_policy(tiny_models["policy"]), CONFIG))
    parallel.write_safetensors(tmp_path / "adapter_model.safetensors", adapted, part="adapter")
    (tmp_path / "adapter_config.json").write_text(lora.adapter_config(CONFIG))
    names = list(load_file(str(tmp_path / "adapter_model.safetensors")))
    assert names and all(name.startswith("base_model.model.model.layers.") for name in names)
    from_peft = peft.PeftModel.from_pretrained(load_policy(tiny_models["policy"]), str(tmp_path))
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        torch.testing.assert_close(from_peft(ids).logits, adapted(ids).logits, rtol=0, atol=1e-5)
    assert lora.scale_of((tmp_path / "adapter_config.json").read_text()) == (4, 2.0)


@pytest.mark.parametrize("config, error", [
    ("[1]", "peft_type"), (json.dumps({"r": 0, "lora_alpha": 8}), "r: must be"),
    (json.dumps({"r": 4}), "lora_alpha"), (json.dumps({"r": 4, "lora_alpha": 8, "use_rslora": True}), "use_rslora"),
    (json.dumps({"r": 4, "lora_alpha": 8, "bias": "all"}), "bias"),
])
def test_adapter_configs_that_are_not_plain_lora_are_refused(config, error):
    with pytest.raises(ValueError, match=error):
        lora.scale_of(config)


def test_check_adapter_names_what_does_not_fit():
    state = {"layer.q.weight": torch.zeros(6, 5)}
    a, b = torch.zeros(2, 5), torch.zeros(6, 2)
    good = {"base_model.model.layer.q.lora_A.weight": a, "base_model.model.layer.q.lora_B.weight": b}
    assert lora.check_adapter(good, state, 2) == {"layer.q.weight": (a, b)}
    for tensors, error in [
        ({}, "no LoRA weights"),
        ({"layer.q.lora_A.weight": a}, "is not a LoRA weight"),
        ({"base_model.model.layer.q.lora_A.weight": a}, "lora_B.weight is missing"),
        ({**good, "base_model.model.layer.k.lora_A.weight": a}, "no weight layer.k.weight"),
        ({**good, "base_model.model.layer.q.lora_B.weight": torch.zeros(5, 2)}, "expected [2, 5] and [6, 2]"),
        ({**good, "base_model.model.layer.q.lora_A.weight": torch.full((2, 5), float("inf"))}, "non-finite"),
    ]:
        with pytest.raises(ValueError, match=error.replace("[", r"\[").replace("]", r"\]")):
            lora.check_adapter(tensors, state, 2)
