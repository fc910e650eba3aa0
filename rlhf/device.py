"""Where a process computes: one place decides the device for every stage and model service.

Under torchrun (or a PyTorchJob) each process owns the GPU of its LOCAL_RANK; a service or a
single-process stage uses the first GPU; without CUDA everything runs on the CPU. No grpc here.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist


def device() -> torch.device:
    """cuda:LOCAL_RANK when CUDA is present, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


CPUINFO = Path("/proc/cpuinfo")


@functools.cache
def bf16_is_fast() -> bool:
    """Whether bf16 matmuls beat fp32 here: on a GPU, yes; on a CPU only where it computes bf16
    natively. Elsewhere autocast emulates bf16 and runs several times slower than fp32 (5.45x for a
    512x576x1536 matmul on a Xeon VM without AVX512-BF16 or AMX). The CPU must list AVX512-BF16 or
    AMX in /proc/cpuinfo, and a short calibration (`matmul_ms`, well under a second) must confirm
    it: a Xeon with AMX whose oneDNN is capped below them (ONEDNN_MAX_CPU_ISA=AVX512_CORE) lists
    the flags but computes bf16 5.7x slower than fp32. Decided once per process and printed, so a
    run's log says which numeric path it took and why."""
    if device().type == "cuda":
        return True
    flags = set(CPUINFO.read_text().split()) if CPUINFO.exists() else set()
    if not flags & {"avx512_bf16", "amx_bf16"}:
        print("device: CPU without native bf16 (AVX512-BF16 / AMX): bf16 autocast off, fp32 is faster here",
              flush=True)
        return False
    fp32, bf16 = matmul_ms()
    fast = bf16 < fp32
    print(f"device: CPU with AVX512-BF16 / AMX; a 512x576x1536 matmul takes {fp32:.2f} ms in fp32, {bf16:.2f} ms "
          f"under bf16 autocast: bf16 autocast {'on where enabled' if fast else 'off, fp32 is faster here'}",
          flush=True)
    return fast


def matmul_ms(repeats: int = 5) -> tuple[float, float]:
    """(fp32, bf16 autocast) milliseconds of one 512x576x1536 matmul (a SmolLM2-135M MLP projection
    over 512 tokens) on one CPU thread, the fastest of `repeats` each, alternating, after a warm-up.
    One thread, because two wait on each other when the other core is busy (as when a run's
    services start together): on a loaded 2-core Xeon with AMX, 15.9 ms fp32 and 20.0 ms bf16 on two
    threads, 5.5 and 1.2 ms on one."""
    a, b = torch.randn(512, 576), torch.randn(576, 1536)

    def seconds(bf16: bool) -> float:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            start = time.perf_counter()
            a @ b
            return time.perf_counter() - start

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for bf16 in (False, True, False, True):  # warm-up: oneDNN compiles its kernels at the first call
            seconds(bf16)
        times = [(seconds(False), seconds(True)) for _ in range(repeats)]
    finally:
        torch.set_num_threads(threads)
    return 1000 * min(t[0] for t in times), 1000 * min(t[1] for t in times)


def autocast(enabled: bool) -> torch.autocast:
    """bf16 autocast on this process's device where it is faster (`bf16_is_fast`: about 1.8x on a
    CPU with native bf16); weights and optimizer stay fp32, since pure bf16 weights lose small
    updates."""
    return torch.autocast(device().type, dtype=torch.bfloat16, enabled=enabled and bf16_is_fast())


def init_distributed() -> tuple[int, int]:
    """(rank, world size). Under torchrun (WORLD_SIZE > 1) joins the process group: with GPUs,
    nccl for CUDA tensors and gloo for CPU ones (metrics, loss sums, CPU-offloaded shards), after
    binding the GPU of this process's LOCAL_RANK; gloo alone on CPUs."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    if not dist.is_initialized():
        here = device()
        if here.type == "cuda":
            torch.cuda.set_device(here)
            dist.init_process_group("cpu:gloo,cuda:nccl")
        else:
            dist.init_process_group("gloo")
    return dist.get_rank(), world


def close_distributed() -> None:
    """Leaves the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()
