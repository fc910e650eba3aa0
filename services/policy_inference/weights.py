"""New weights for the serving policy: parse a safetensors payload, check it fits the model exactly,
then copy it in. Checking happens before any copy, so a bad payload never leaves the model half
updated."""

from __future__ import annotations

import torch
from safetensors.torch import load

from rlhf.models import lora
from rlhf.models.weights import tied_groups


def payload_limit(model: torch.nn.Module) -> int:
    """Largest payload worth receiving: the weights at twice their serving width (a trainer may send
    fp32 to a bf16 server) plus room for the safetensors header."""
    return sum(2 * t.numel() * t.element_size() for t in model.state_dict().values()) + (16 << 20)


def _parse(payload: bytes) -> dict[str, torch.Tensor]:
    try:
        return load(payload)
    except Exception as exc:  # safetensors raises its own error types for any malformed input
        raise ValueError(f"not a safetensors payload: {exc}") from None


def read_adapter(payload: bytes, model: torch.nn.Module, rank: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Parses a LoRA adapter payload (peft's adapter_model.safetensors) and checks it against
    `model` (`rlhf.models.lora.check_adapter`): {weight name: (A, B)}; ValueError says what does
    not fit."""
    return lora.check_adapter(_parse(payload), model.state_dict(), rank)


def read_weights(payload: bytes, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parses `payload` and checks it holds every weight of `model` (each tied group under any of its
    names) with the model's shape and no unknown names. Returns one tensor per group, keyed by the
    group's first name. Raises ValueError saying what does not fit (non-finite values included)."""
    tensors = _parse(payload)
    state = model.state_dict()
    unknown = sorted(set(tensors) - set(state))
    if unknown:
        raise ValueError(f"tensor {unknown[0]!r} is not in the model ({len(unknown)} unknown names)")
    chosen = {}
    for group in tied_groups(state):  # grouped as the client grouped what it pushed
        given = [name for name in group if name in tensors]
        if not given:
            raise ValueError(f"tensor {group[0]!r} is missing")
        for name in given:
            ours, theirs = state[name], tensors[name]
            if theirs.shape != ours.shape:
                raise ValueError(f"tensor {name!r} has shape {list(theirs.shape)}, the model {list(ours.shape)}")
            if theirs.dtype != ours.dtype and not (theirs.is_floating_point() and ours.is_floating_point()):
                raise ValueError(f"tensor {name!r} has dtype {theirs.dtype}, the model {ours.dtype}")
            # A diverged trainer's NaN/Inf weights would sample token 0 with NaN log-probs, answered OK.
            if theirs.is_floating_point() and not torch.isfinite(theirs).all():
                raise ValueError(f"tensor {name!r} holds non-finite values (NaN or Inf)")
        chosen[group[0]] = tensors[given[0]]
    return chosen


def install_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Copies tensors checked by `read_weights` into the model in place (casting to its dtype)."""
    state = model.state_dict()
    with torch.no_grad():
        for name, tensor in tensors.items():
            state[name].copy_(tensor)
