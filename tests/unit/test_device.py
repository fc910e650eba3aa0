"""One place picks the device: the GPU of this process's LOCAL_RANK when CUDA is present, else the CPU."""

from __future__ import annotations

import torch

from rlhf import device as placement


def test_cuda_of_the_local_rank_when_cuda_is_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert placement.device() == torch.device("cuda", 3)
    monkeypatch.delenv("LOCAL_RANK")  # a service or a single-process stage: the first GPU
    assert placement.device() == torch.device("cuda", 0)


def test_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert placement.device() == torch.device("cpu")
    assert placement.autocast(True).device == "cpu"
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert placement.init_distributed() == (0, 1)  # one process: no process group
