"""SFT under torchrun with FSDP2 computes what one process computes on the same global batch."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from safetensors.torch import load_file

from pipelines.sft import train_sft
from rlhf.config import LoraConfig, ParallelConfig
from tests.distributed.launch import assert_sharded, torchrun


def sft_config(stack, tiny_models, out, **overrides):
    config = copy.deepcopy(stack)
    cfg = config.sft
    cfg.base_model, cfg.output_dir = str(tiny_models["policy"]), str(out)
    # 8 demonstrations, 4 a step: 3 steps at a learning rate that visibly moves the tiny model.
    cfg.batch_size, cfg.epochs, cfg.learning_rate, cfg.max_length, cfg.bf16_autocast = 4, 1.5, 1e-3, 64, False
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return config


def losses(out) -> list[float]:
    return [json.loads(line)["loss"] for line in (out.parent / f"{out.name}_metrics.jsonl").read_text().splitlines()]


def test_fsdp_on_two_ranks_follows_the_single_process_run(stack, tiny_models, tmp_path):
    train_sft(sft_config(stack, tiny_models, tmp_path / "single"))
    # Each rank takes 2 of the 4 demonstrations of a step, in 2 micro-batches of 1, recomputing
    # each layer's activations in the backward pass (the same operations: the same numbers).
    stdout = torchrun("sft", sft_config(stack, tiny_models, tmp_path / "fsdp", parallel=ParallelConfig(
        strategy="fsdp", gradient_accumulation_steps=2, activation_checkpointing=True)), tmp_path)
    assert_sharded(stdout, "sft")

    single, sharded = losses(tmp_path / "single"), losses(tmp_path / "fsdp")
    assert len(single) == 3 and single[0] > single[-1] + 0.1, single  # it learns
    # fp32 on CPU: the runs differ only in summation order (gradients reduce-scattered across ranks
    # and accumulated over micro-batches, shorter padding), about 1e-7 relative per operation; the
    # gap after 3 AdamW steps stays orders of magnitude below the 0.1+ the loss moves.
    assert sharded == pytest.approx(single, abs=1e-4)
    a, b = load_file(str(tmp_path / "single" / "model.safetensors")), load_file(str(tmp_path / "fsdp" / "model.safetensors"))
    assert a.keys() == b.keys()
    # AdamW moves an element by about lr * m / sqrt(v) whatever its gradient's scale, so where a
    # gradient is ~0 the rounding noise is amplified up to ~1e-5; a wrong gradient moves it by ~lr (1e-3).
    assert all(torch.allclose(a[k], b[k], atol=1e-4, rtol=0) for k in a)


def test_lora_sft_trains_only_adapters_and_fsdp_follows_one_process(stack, tiny_models, tmp_path):
    adapters = LoraConfig(rank=4, alpha=8.0)
    train_sft(sft_config(stack, tiny_models, tmp_path / "single", lora=adapters))
    torchrun("sft", sft_config(stack, tiny_models, tmp_path / "fsdp", lora=adapters,
                               parallel=ParallelConfig(strategy="fsdp")), tmp_path)

    single, sharded = losses(tmp_path / "single"), losses(tmp_path / "fsdp")
    assert single[0] > single[-1], single  # the adapters learn
    assert sharded == pytest.approx(single, abs=1e-4)
    base = load_file(str(tiny_models["policy"] / "model.safetensors"))
    a, b = load_file(str(tmp_path / "single" / "model.safetensors")), load_file(str(tmp_path / "fsdp" / "model.safetensors"))
    assert a.keys() == b.keys() == base.keys()  # a plain model, adapters merged
    assert all(torch.allclose(a[k], b[k], atol=1e-4, rtol=0) for k in a)
    changed = {k for k in base if not torch.equal(a[k], base[k])}
    assert changed and all(k.split(".")[-2] in adapters.target_modules for k in changed), sorted(changed)[:3]
