"""Tied weights in a state dict: tensors that share memory (e.g. embeddings and lm_head) are one
weight under several names. A weight push sends each once; the server accepts it under any of them."""

from __future__ import annotations

from typing import Mapping

import torch


def tied_groups(state_dict: Mapping[str, torch.Tensor]) -> list[list[str]]:
    """The state dict's names grouped by the tensor they share, in state-dict order: a tied weight
    is one group with two names, every other weight a group of one."""
    groups: dict[tuple, list[str]] = {}
    for name, tensor in state_dict.items():
        groups.setdefault((tensor.data_ptr(), tensor.dtype, tuple(tensor.shape)), []).append(name)
    return list(groups.values())


def untied_weights(state_dict: Mapping[str, torch.Tensor], dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """One detached tensor per tied group, under the group's first name; floating-point tensors are
    cast to `dtype` when given (once per group, so a tied weight stays one tensor)."""
    weights = {}
    for group in tied_groups(state_dict):
        tensor = state_dict[group[0]].detach()
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        weights[group[0]] = tensor
    return weights
