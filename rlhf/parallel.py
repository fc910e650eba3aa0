"""Data-parallel training of a model across the processes torchrun starts: DDP (every rank holds
the whole model and its AdamW state, 16 bytes per parameter) or FSDP2 (each rank holds 1/world of
every parameter, gradient and optimizer state, and all-gathers one decoder layer at a time for its
forward and backward). Also what a sharded model needs around training: whole weights one at a time
(a weight push, the final save, the revision) and DCP checkpoints. No grpc here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import struct
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator, Literal

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict
from torch.distributed.fsdp import CPUOffloadPolicy, FSDPModule, MixedPrecisionPolicy, OffloadPolicy, fully_shard
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel as DDP

from rlhf.atomic import write_dir
from rlhf.config import ParallelConfig
from rlhf.models import lora
from rlhf.models.loading import decoder_layers


def wrap(module: torch.nn.Module, model: torch.nn.Module, options: ParallelConfig, *, device: torch.device,
         world: int, bf16: bool = True) -> torch.nn.Module:
    """Places `model` and returns the module to call for training forwards.

    `module` is what the stage calls (the model itself, or a small nn.Module around it whose forward
    runs it): DDP wraps it, FSDP2 makes it the root, so every call goes through the root's hooks.
    FSDP2 shards each decoder layer, then the root (embeddings, final norm, heads: tied weights stay
    in one unit); on CUDA with `bf16` it all-gathers bf16 parameters and reduces gradients in fp32
    while the sharded master weights and AdamW state stay fp32. `options.cpu_offload` keeps the shards,
    their gradients and the optimizer state in host memory (FSDP2 moves each layer to the GPU for
    its compute; on a CPU-only machine it changes nothing). A single process (world 1) trains the
    model as it is, whatever the strategy."""
    if options.activation_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if world == 1 or options.strategy == "ddp":
        model.to(device)
    if world == 1:
        return module
    if options.strategy == "ddp":
        return DDP(module, device_ids=[device.index] if device.type == "cuda" else None)
    on_gpu = device.type == "cuda"
    mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if on_gpu and bf16 \
        else MixedPrecisionPolicy()
    # Without a GPU the shards already live in host memory (and pinning needs an accelerator).
    offload = CPUOffloadPolicy() if options.cpu_offload and on_gpu else OffloadPolicy()
    # reshard_after_forward everywhere, the root too: after any forward (a no-grad one included)
    # every rank holds only its shards, and state_dict() always sees DTensors.
    for layer in decoder_layers(model):
        fully_shard(layer, mp_policy=mp, offload_policy=offload, reshard_after_forward=True)
    fully_shard(module, mp_policy=mp, offload_policy=offload, reshard_after_forward=True)
    return module


def held_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(parameters this rank holds, parameters of the whole model): equal under DDP, about
    1/world of the whole under FSDP2."""
    params = list(model.parameters())  # tied weights once
    local = sum(p.to_local().numel() if isinstance(p, DTensor) else p.numel() for p in params)
    return local, sum(p.numel() for p in params)


def grad_sync(module: torch.nn.Module, enabled: bool):
    """Context for one micro-batch's backward: gradients are reduced across ranks only when
    `enabled` (the last micro-batch of an accumulation); earlier ones accumulate locally."""
    if isinstance(module, DDP) and not enabled:
        return module.no_sync()
    if isinstance(module, FSDPModule):
        module.set_requires_gradient_sync(enabled)
    return contextlib.nullcontext()


def all_sum(value: torch.Tensor | float) -> torch.Tensor:
    """Sum over ranks (a no-op in one process), as a float64 CPU tensor."""
    tensor = torch.as_tensor(value, dtype=torch.float64).detach().cpu().clone()
    if dist.is_initialized():
        dist.all_reduce(tensor)
    return tensor


def clip_grad_norm(parameters, max_norm: float) -> float:
    """clip_grad_norm_ that also works on sharded gradients; returns the total norm before clipping."""
    norm = torch.nn.utils.clip_grad_norm_(list(parameters), max_norm)
    return float(norm.full_tensor() if isinstance(norm, DTensor) else norm)


# ---- whole weights from shards ---------------------------------------------------------------------

def full_weights(model: torch.nn.Module, keep: Callable[[str], bool] | None = None
                 ) -> Iterator[tuple[str, torch.Tensor]]:
    """Every state-dict entry of `model` (those `keep` accepts) as a whole tensor, one at a time,
    in state-dict order. A sharded parameter is all-gathered, so every rank must iterate
    (collectives); no rank ever holds more than one gathered weight, plus the first of a tied pair
    until its twin comes."""
    owner = {name: id(p) for name, p in model.named_parameters(remove_duplicate=False)}
    names = Counter(owner.values())
    tied: dict[int, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        if keep is not None and not keep(name):
            continue
        key = owner.get(name)
        if key in tied:
            yield name, tied.pop(key)
            continue
        whole = (tensor.full_tensor() if isinstance(tensor, DTensor) else tensor).detach()
        if names.get(key, 1) > 1:
            tied[key] = whole
        yield name, whole


Part = Literal["model", "adapter", "base"]


def part_weights(model: torch.nn.Module, part: Part = "model") -> Iterator[tuple[str, torch.Tensor]]:
    """`full_weights` of one part of a model with LoRA adapters, under the names peft or the plain
    model use: "model" the plain model with the adapters merged, "adapter" only the adapters
    (peft's saved names), "base" the weights the adapters apply to. A model without adapters is
    its own "model" and "base"."""
    if part == "adapter":
        return ((lora.wire_name(name), tensor) for name, tensor in full_weights(model, keep=lora.is_adapter))
    if not lora.has_adapters(model):
        return full_weights(model)
    if part == "base":
        return lora.base_weights(full_weights(model, keep=lambda name: not lora.is_adapter(name)))
    return lora.merged_weights(full_weights(model), lora.scale(model))


def weight_groups(model: torch.nn.Module) -> dict[str, list[str]]:
    """First state-dict name of each tied group -> all its names (a weight pushed once, like
    `rlhf.models.weights.tied_groups` groups an unsharded state dict)."""
    owner = {name: id(p) for name, p in model.named_parameters(remove_duplicate=False)}
    groups: dict[object, list[str]] = {}
    for name in model.state_dict():
        groups.setdefault(owner.get(name, name), []).append(name)
    return {names[0]: names for names in groups.values()}


def revision(model: torch.nn.Module, part: Part = "model") -> str:
    """`rlhf.models.weights_revision` of the whole model (or the base of its adapters), computed from
    its shards (collective)."""
    digest = hashlib.sha256()
    for name, tensor in part_weights(model, part):
        digest.update(name.encode())
        digest.update(memoryview(_bytes(tensor).numpy()))
    return digest.hexdigest()[:16]


_SAFETENSORS_DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.float64: "F64",
                       torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
                       torch.uint8: "U8", torch.bool: "BOOL"}


def _bytes(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)


def write_safetensors(path: Path | None, model: torch.nn.Module, dtype: torch.dtype | None = None,
                     part: Part = "model") -> None:
    """Writes one part of the model's weights (`part_weights`: the plain model, the LoRA adapters
    alone, or their base) as a safetensors file (tied weights once, under their first name;
    floating-point ones cast to `dtype` when given), gathering one weight at a time. Every rank
    calls it (the gathers are collectives); only the rank given a `path` writes. The header comes
    from the weights' global shapes, so the file is written front to back as weights arrive."""
    state = model.state_dict()

    def out_dtype(tensor: torch.Tensor) -> torch.dtype:
        return dtype if dtype is not None and tensor.is_floating_point() else tensor.dtype

    if part == "adapter":
        names = {name: lora.wire_name(name) for name in state if lora.is_adapter(name)}
    else:
        names = {name: lora.export_name(name) for name in weight_groups(model) if not lora.is_adapter(name)}
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, out_name in names.items():
        tensor = state[name]
        size = tensor.numel() * torch.empty((), dtype=out_dtype(tensor)).element_size()
        header[out_name] = {"dtype": _SAFETENSORS_DTYPES[out_dtype(tensor)], "shape": list(tensor.shape),
                            "data_offsets": [offset, offset + size]}
        offset += size
    written = set(names.values())
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format pads the header to 8 bytes with spaces
    with open(path, "wb") if path is not None else contextlib.nullcontext() as f:
        if f is not None:
            f.write(struct.pack("<Q", len(encoded)) + encoded)
        for name, tensor in part_weights(model, part):
            if f is not None and name in written:
                f.write(memoryview(_bytes(tensor.to(out_dtype(tensor))).numpy()))


def save_pretrained(out: Path, model: torch.nn.Module, tokenizer, rank: int) -> None:
    """Writes a Hugging Face model directory (config, safetensors, tokenizer) from rank 0, the
    weights gathered one at a time (every rank calls it)."""
    if rank != 0:
        write_safetensors(None, model)
        return

    def save(tmp: Path) -> None:
        model.config.save_pretrained(tmp)
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.save_pretrained(tmp)
        write_safetensors(tmp / "model.safetensors", model)
        tokenizer.save_pretrained(tmp)
    write_dir(out, save)


# ---- DCP checkpoints ------------------------------------------------------------------------------

# Only what trains: a LoRA run's checkpoint holds its adapters (and heads) and their optimizer state,
# not the frozen base it shares with the SFT model (strict=False: the frozen weights stay as loaded).
_TRAINABLE = StateDictOptions(ignore_frozen_params=True, strict=False)


def _trainable_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    model_state, optim_state = get_state_dict(model, optimizer, options=_TRAINABLE)
    # ignore_frozen_params misses the second name of a tied frozen weight (lm_head of tied embeddings).
    for name, parameter in model.named_parameters(remove_duplicate=False):
        if not parameter.requires_grad:
            model_state.pop(name, None)
    return {"model": model_state, "optim": optim_state}


def save_state(directory: Path, parts: dict[str, tuple[torch.nn.Module, torch.optim.Optimizer]]) -> None:
    """Writes models and optimizers with torch.distributed.checkpoint: each rank writes its own
    shards (`__<rank>_*.distcp` in its own `directory`), rank 0 also the `.metadata` that maps them
    to global tensors, which is what lets a checkpoint load at another world size."""
    state = {key: _trainable_state(model, optimizer) for key, (model, optimizer) in parts.items()}
    dcp.save(state, checkpoint_id=str(directory), no_dist=not dist.is_initialized())


def load_state(directory: Path, parts: dict[str, tuple[torch.nn.Module, torch.optim.Optimizer]]) -> None:
    """Loads what `save_state` wrote (at any world size) into the models and optimizers in place;
    `directory` holds every rank's files and the `.metadata`."""
    state = {key: _trainable_state(model, optimizer) for key, (model, optimizer) in parts.items()}
    dcp.load(state, checkpoint_id=str(directory), no_dist=not dist.is_initialized())
    for key, (model, optimizer) in parts.items():
        set_state_dict(model, optimizer, model_state_dict=state[key]["model"],
                       optim_state_dict=state[key]["optim"], options=_TRAINABLE)
