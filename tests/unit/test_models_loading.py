"""Loading models: their weights in the process's own memory; freeze_lower_layers: which
parameters a reward model trains."""

from __future__ import annotations

import os

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

from rlhf.models import freeze_lower_layers, load_policy, load_reward_model


def trainable(model) -> set[str]:
    return {name for name, parameter in model.named_parameters() if parameter.requires_grad}


@pytest.mark.parametrize("fraction, frozen", [(0.0, 0), (0.4, 0), (0.5, 1), (0.99, 1), (1.0, 2)])
def test_the_lowest_layers_and_the_embeddings_freeze(tiny_models, fraction, frozen):
    model = load_reward_model(tiny_models["reward"])  # 2 decoder layers
    everything = trainable(model)
    assert freeze_lower_layers(model, fraction) == frozen
    layer_params = {i: {n for n in everything if n.startswith(f"model.layers.{i}.")} for i in (0, 1)}
    expected = set(everything)
    if frozen:
        expected -= {"model.embed_tokens.weight"}
    for i in range(frozen):
        expected -= layer_params[i]
    assert layer_params[0] and layer_params[1] and trainable(model) == expected
    # The final norm and the scalar head always train.
    assert {"model.norm.weight", "score.weight"} <= trainable(model)


def test_a_model_without_named_decoder_layers_is_an_error(tiny_models):
    model = load_reward_model(tiny_models["reward"])
    model._no_split_modules = None
    with pytest.raises(ValueError, match=r"LlamaForSequenceClassification names no decoder layers.*frozen_fraction to 0"):
        freeze_lower_layers(model, 0.5)
    assert freeze_lower_layers(model, 0.0) == 0


def file_mappings(path) -> list[tuple[int, int]]:
    """The address ranges this process maps from the file at `path` (/proc/self/maps)."""
    ranges = []
    for line in open("/proc/self/maps"):
        fields = line.split()
        if len(fields) >= 6 and fields[5] == str(path):
            start, end = (int(address, 16) for address in fields[0].split("-"))
            ranges.append((start, end))
    return ranges


def file_backed(model, path) -> list[str]:
    """The parameters of `model` whose memory is the mapped file at `path`."""
    ranges = file_mappings(path)
    return [name for name, parameter in model.named_parameters()
            if any(start <= parameter.data_ptr() < end for start, end in ranges)]


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="reads Linux's /proc/self/maps")
@pytest.mark.parametrize("kind, ours, transformers_load", [
    ("policy", load_policy, lambda d: AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)),
    ("reward", load_reward_model,
     lambda d: AutoModelForSequenceClassification.from_pretrained(d, num_labels=1, dtype=torch.float32)),
])
def test_loaded_weights_live_in_the_process_not_in_the_mapped_file(tiny_models, kind, ours, transformers_load):
    path = (tiny_models[kind] / "model.safetensors").resolve()
    raw = transformers_load(str(tiny_models[kind]))
    assert file_backed(raw, path)  # what transformers does: views of the mapped file, droppable page cache
    loaded = ours(tiny_models[kind])
    assert not file_backed(loaded, path)
    if getattr(loaded, "lm_head", None) is not None and loaded.config.tie_word_embeddings:
        assert loaded.lm_head.weight is loaded.model.embed_tokens.weight
    for (name, mine), theirs in zip(loaded.state_dict().items(), raw.state_dict().values()):
        assert torch.equal(mine, theirs), name
