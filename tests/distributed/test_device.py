"""Every stage computes on the device `rlhf.device.device()` picks, models and batches alike.

Without a GPU here, each stage is run with the device it asks for replaced by "meta" (shapes, no
data): a stage that placed its model and inputs there gets through its first forward and fails at
the first number it reads (`.item()` on a meta tensor). One that kept its model or its batch on
the CPU fails on mixed devices instead, or trains on the CPU to the end."""

from __future__ import annotations

import copy
import os
import platform
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.parametrize("flags, matmul_ms, fast", [
    ("fpu avx512f avx512_bf16 sse", (5.5, 1.2), True),
    ("fpu avx512f amx_bf16", (5.5, 1.2), True),
    ("fpu avx512f amx_bf16", (6.1, 30.3), False),  # the flags, but oneDNN capped below them
    ("fpu avx2 avx512f", None, False)])
def test_bf16_autocast_only_where_the_cpu_computes_bf16(flags, matmul_ms, fast, tmp_path, monkeypatch, capsys):
    """Without AVX512-BF16 or AMX, or where bf16 turns out slower than fp32 anyway, bf16 autocast is
    emulated and slower than fp32: it stays off, whatever the config asks, and the process says
    which path it took and the times that decided it."""
    import rlhf.device

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    monkeypatch.setattr(rlhf.device, "CPUINFO", cpuinfo)
    calibrations = []
    monkeypatch.setattr(rlhf.device, "matmul_ms", lambda: calibrations.append(1) or matmul_ms)
    rlhf.device.bf16_is_fast.cache_clear()
    try:
        with rlhf.device.autocast(True):
            dtype = (torch.ones(4, 4) @ torch.ones(4, 4)).dtype
        assert rlhf.device.bf16_is_fast() is fast and dtype == (torch.bfloat16 if fast else torch.float32)
        assert len(calibrations) == (matmul_ms is not None)  # once, and only where the flags allow bf16
        out = capsys.readouterr().out
        assert ("bf16 autocast off" in out) is not fast
        assert matmul_ms is None or f"{matmul_ms[0]:.2f} ms in fp32, {matmul_ms[1]:.2f} ms under bf16" in out
        with rlhf.device.autocast(False):
            assert (torch.ones(4, 4) @ torch.ones(4, 4)).dtype == torch.float32
    finally:
        rlhf.device.bf16_is_fast.cache_clear()


CALIBRATE = "import sys, pathlib, rlhf.device as d; d.CPUINFO = pathlib.Path(sys.argv[1]); print(d.bf16_is_fast())"


@pytest.mark.skipif(platform.machine() != "x86_64", reason="ONEDNN_MAX_CPU_ISA names x86 instruction sets")
def test_calibration_finds_emulated_bf16_on_this_cpu(tmp_path):
    """The real calibration on this CPU, in fresh processes (oneDNN reads its ISA cap once): capped
    at AVX512_CORE, as on a VM that hides AVX512-BF16 and AMX, bf16 autocast is emulated and
    measured slower than fp32 even where /proc/cpuinfo lists the flags; uncapped, it is on exactly
    where this CPU lists them."""
    listed = tmp_path / "cpuinfo"
    listed.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16\n")

    def calibrate(cpuinfo: Path, isa: str | None) -> str:
        env = {name: value for name, value in os.environ.items() if name != "ONEDNN_MAX_CPU_ISA"}
        env.update({"ONEDNN_MAX_CPU_ISA": isa} if isa else {})
        return subprocess.run([sys.executable, "-c", CALIBRATE, str(cpuinfo)], env=env, capture_output=True,
                              text=True, check=True, timeout=120).stdout

    capped = calibrate(listed, "AVX512_CORE")
    assert capped.splitlines()[-1] == "False" and "fp32 is faster here" in capped, capped
    native = bool(set(Path("/proc/cpuinfo").read_text().split()) & {"avx512_bf16", "amx_bf16"})
    uncapped = calibrate(Path("/proc/cpuinfo"), None)
    assert uncapped.splitlines()[-1] == str(native), uncapped
