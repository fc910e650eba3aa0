"""The reward model under torchrun with FSDP2 (and DDP) computes what one process computes on the
same global batch."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from safetensors.torch import load_file

from pipelines.rm import train_rm
from rlhf.clients.data_store import DataStoreClient
from rlhf.config import ParallelConfig
from tests.distributed.launch import assert_sharded, torchrun
from tests.integration.stack import PROMPTS

RANKINGS = [[0, 1, 2], [2, 1, 0], [1, 0, 2], [0, 2, 1]]
COMPARISONS = [{"prompt": p["prompt"], "completions": ["Short.", "A longer answer here.", "No"],
                "ranking": RANKINGS[i % 4]} for i, p in enumerate(PROMPTS)]


def rm_config(stack, tiny_models, out, **overrides):
    config = copy.deepcopy(stack)
    cfg = config.rm
    cfg.init_model, cfg.output_dir, cfg.comparisons, cfg.heldout_comparisons = (
        str(tiny_models["reward"]), str(out), "comparisons/dist", "comparisons/dist")
    # 8 prompts (K = 3), 4 a step: 2 steps; the demonstrations set the reward offset at the end.
    cfg.prompts_per_batch, cfg.epochs, cfg.learning_rate, cfg.bf16_autocast = 4, 1.0, 1e-3, False
    cfg.frozen_fraction = 0.5
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return config


def rows(out) -> list[dict]:
    return [json.loads(line) for line in (out.parent / f"{out.name}_metrics.jsonl").read_text().splitlines()]


def test_fsdp_on_two_ranks_follows_the_single_process_run(stack, tiny_models, tmp_path):
    with DataStoreClient(f"127.0.0.1:{stack.services.data_store.port}") as store:
        store.put_records("comparisons/dist", "comparisons", COMPARISONS)
    train_rm(rm_config(stack, tiny_models, tmp_path / "single"))
    # Each rank takes 2 of the 4 prompts of a step (all K completions of a prompt together), 1 per micro-batch.
    stdout = torchrun("rm", rm_config(stack, tiny_models, tmp_path / "fsdp",
                                      parallel=ParallelConfig(strategy="fsdp", gradient_accumulation_steps=2)), tmp_path)
    assert_sharded(stdout, "rm")

    # DDP too: gradients of the first micro-batch stay local (no_sync), the last one reduces them.
    torchrun("rm", rm_config(stack, tiny_models, tmp_path / "ddp",
                               parallel=ParallelConfig(strategy="ddp", gradient_accumulation_steps=2)),
             tmp_path)

    single = rows(tmp_path / "single")
    assert len(single) == 2 and single[0]["loss"] != single[1]["loss"]
    for distributed in (rows(tmp_path / "fsdp"), rows(tmp_path / "ddp")):
        # fp32 on CPU: only the summation order differs (see tests/distributed/test_sft.py).
        assert [r["loss"] for r in distributed] == pytest.approx([r["loss"] for r in single], abs=1e-5)
        assert [r["accuracy"] for r in distributed] == pytest.approx([r["accuracy"] for r in single], abs=1e-6)
    summaries = [json.loads((tmp_path / f"{name}_summary.json").read_text()) for name in ("single", "fsdp")]
    assert summaries[1]["heldout_accuracy"] == summaries[0]["heldout_accuracy"]
    assert summaries[1]["reward_offset"] == pytest.approx(summaries[0]["reward_offset"], abs=1e-5)
    a, b = load_file(str(tmp_path / "single" / "model.safetensors")), load_file(str(tmp_path / "fsdp" / "model.safetensors"))
    assert a.keys() == b.keys()
    # AdamW moves an element by about lr * m / sqrt(v) whatever its gradient's scale, so where a
    # gradient is ~0 the rounding noise is amplified up to ~1e-5; a wrong gradient moves it by ~lr (1e-3).
    assert all(torch.allclose(a[k], b[k], atol=1e-4, rtol=0) for k in a)
    # rm.frozen_fraction 0.5 of the 2 layers: the embeddings and layer 0 keep the SFT weights under
    # every strategy, layer 1 and the head train.
    init = load_file(str(tiny_models["reward"] / "model.safetensors"))
    for weights in (a, b, load_file(str(tmp_path / "ddp" / "model.safetensors"))):
        frozen = [k for k in weights if k.startswith(("model.embed_tokens.", "model.layers.0."))]
        assert frozen and all(torch.equal(weights[k], init[k]) for k in frozen)
        assert not torch.equal(weights["model.layers.1.mlp.up_proj.weight"], init["model.layers.1.mlp.up_proj.weight"])
