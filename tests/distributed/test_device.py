"""Every stage computes on the device `rlhf.device.device()` picks, models and batches alike.

Without a GPU here, each stage is run with the device it asks for replaced by "meta" (shapes, no
data): a stage that placed its model and inputs there gets through its first forward and fails at
the first number it reads (`.item()` on a meta tensor). One that kept its model or its batch on
the CPU fails on mixed devices instead, or trains on the CPU to the end."""

from __future__ import annotations

import copy

import pytest
import torch

import pipelines.evaluate
import pipelines.ppo
import pipelines.rm
import pipelines.sft
from tests.integration.stack import tiny_ppo

META_ITEM = r"item\(\) cannot be called on meta tensors"


@pytest.fixture
def meta(monkeypatch):
    """Makes every stage's device() answer "meta"; counts the calls."""
    calls = []

    def device() -> torch.device:
        calls.append(1)
        return torch.device("meta")

    for module in (pipelines.sft, pipelines.rm, pipelines.ppo, pipelines.evaluate):
        monkeypatch.setattr(module, "device", device)
    return calls


def test_sft_and_rm_train_on_the_chosen_device(stack, tiny_models, tmp_path, meta):
    config = copy.deepcopy(stack)
    config.sft.base_model, config.sft.output_dir, config.sft.bf16_autocast = (
        str(tiny_models["policy"]), str(tmp_path / "sft"), False)
    with pytest.raises(RuntimeError, match=META_ITEM):
        pipelines.sft.train_sft(config)
    config.rm.init_model, config.rm.output_dir, config.rm.bf16_autocast = (
        str(tiny_models["reward"]), str(tmp_path / "rm"), False)
    config.rm.comparisons, config.rm.heldout_comparisons = "comparisons/device", ""
    from rlhf.clients.data_store import DataStoreClient

    with DataStoreClient(f"127.0.0.1:{stack.services.data_store.port}") as store:
        store.put_records("comparisons/device", "comparisons",
                          [{"prompt": "Say hi.", "chosen": "Hi!", "rejected": "No."}] * 4)
    with pytest.raises(RuntimeError, match=META_ITEM):
        pipelines.rm.train_rm(config)
    assert len(meta) == 2


def test_the_ppo_trainer_puts_both_models_and_its_rollouts_on_the_chosen_device(stack, tiny_models, tmp_path, meta):
    trainer = pipelines.ppo.Trainer(tiny_ppo(copy.deepcopy(stack), tiny_models, tmp_path / "ppo", bf16_autocast=False))
    try:
        assert {p.device.type for p in [*trainer.policy.parameters(), *trainer.value_model.parameters()]} == {"meta"}
        with pytest.raises(RuntimeError, match=META_ITEM):
            trainer.train_step()  # rollouts from the services, then the trainer's own forward
    finally:
        trainer.close()


def test_evaluation_loads_each_policy_onto_the_chosen_device(stack, tiny_models, tmp_path, meta):
    config = copy.deepcopy(stack)
    config.eval.reference_model, config.eval.policies = str(tiny_models["policy"]), {}
    config.eval.report_dir = str(tmp_path / "report")
    # The policy is on "meta" before it is pushed: reading its weights for the push fails.
    with pytest.raises(NotImplementedError, match="meta tensor"):
        pipelines.evaluate.evaluate(config)
    assert meta


@pytest.mark.parametrize("flags, fast", [("fpu avx512f avx512_bf16 sse", True), ("fpu avx512f amx_bf16", True),
                                         ("fpu avx2 avx512f", False)])
def test_bf16_autocast_only_where_the_cpu_computes_bf16(flags, fast, tmp_path, monkeypatch, capsys):
    """Without AVX512-BF16 or AMX, bf16 autocast is emulated and slower than fp32: it stays off,
    whatever the config asks, and the process says which path it took."""
    import rlhf.device

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    monkeypatch.setattr(rlhf.device, "CPUINFO", cpuinfo)
    rlhf.device.bf16_is_fast.cache_clear()
    try:
        with rlhf.device.autocast(True):
            dtype = (torch.ones(4, 4) @ torch.ones(4, 4)).dtype
        assert rlhf.device.bf16_is_fast() is fast and dtype == (torch.bfloat16 if fast else torch.float32)
        assert ("bf16 autocast off" in capsys.readouterr().out) is not fast
        with rlhf.device.autocast(False):
            assert (torch.ones(4, 4) @ torch.ones(4, 4)).dtype == torch.float32
    finally:
        rlhf.device.bf16_is_fast.cache_clear()
