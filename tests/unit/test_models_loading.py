"""freeze_lower_layers: which parameters a reward model trains."""

from __future__ import annotations

import pytest

from rlhf.models import freeze_lower_layers, load_reward_model


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
