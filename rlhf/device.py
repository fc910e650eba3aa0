"""Where a process computes: one place decides the device for every stage and model service.

Under torchrun (or a PyTorchJob) each process owns the GPU of its LOCAL_RANK; a service or a
single-process stage uses the first GPU; without CUDA everything runs on the CPU. No grpc here.
"""

from __future__ import annotations

import functools
import os
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
    natively (AVX512-BF16 or AMX, from /proc/cpuinfo). Elsewhere autocast emulates bf16 and runs
    several times slower than fp32 (5.45x for a 512x576x1536 matmul on a Xeon VM without either).
    Decided once per process and printed, so a run's log says which numeric path it took."""
    if device().type == "cuda":
        return True
    flags = set(CPUINFO.read_text().split()) if CPUINFO.exists() else set()
    fast = bool(flags & {"avx512_bf16", "amx_bf16"})
    print(f"device: CPU {'with' if fast else 'without'} native bf16 (AVX512-BF16 / AMX): "
          f"bf16 autocast {'on where enabled' if fast else 'off, fp32 is faster here'}", flush=True)
    return fast


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
