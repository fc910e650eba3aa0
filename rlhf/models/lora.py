"""LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models") with peft: adapters
injected into our own model classes, the adapter as it travels (peft's file layout), and merging an
adapter into base weights.

A targeted linear layer computes W x + (alpha / r) B A x, with A (r, in) and B (out, r); B starts at
zero, so a fresh adapter leaves the model unchanged. Training updates only A and B (and the heads
named trainable), so a weight push and a checkpoint carry only those.

The adapter's wire and file format is peft's `adapter_model.safetensors` (tensors named
`base_model.model.<module>.lora_A.weight` / `.lora_B.weight`) with its `adapter_config.json`, which
peft and vLLM both load. Merging always runs `merge_weight`, in fp32: policy-inference's "hf" engine
and the exported model compute the same bits from the same inputs.
"""

from __future__ import annotations

import json
from typing import Iterable, Iterator, Mapping, Sequence

import torch

from rlhf.config import LoraConfig

WIRE_PREFIX = "base_model.model."
_A, _B = ".lora_A.", ".lora_B."
_BASE = ".base_layer."


def add_adapters(model: torch.nn.Module, config: LoraConfig, trainable: Sequence[str] = ()) -> torch.nn.Module:
    """Injects LoRA adapters (peft) into `config.target_modules` of `model`, in place, and freezes
    everything else except the modules named in `trainable` (e.g. a value head, "score"). The model
    keeps its class: its forward, `base_model` and heads work as before."""
    import peft

    peft.inject_adapter_in_model(peft.LoraConfig(r=config.rank, lora_alpha=config.alpha,
                                                 lora_dropout=config.dropout, bias="none",
                                                 target_modules=list(config.target_modules)), model)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(is_adapter(name) or any(name.startswith(f"{head}.") for head in trainable))
    return model


def has_adapters(model: torch.nn.Module) -> bool:
    return any(is_adapter(name) for name in model.state_dict())


def scale(model: torch.nn.Module) -> float:
    """alpha / r of the adapters `add_adapters` injected (one config, so one value)."""
    from peft.tuners.lora import LoraLayer

    return next(layer.scaling["default"] for layer in model.modules() if isinstance(layer, LoraLayer))


def is_adapter(name: str) -> bool:
    return _A in name or _B in name


def wire_name(name: str) -> str:
    """`model.layers.0.self_attn.q_proj.lora_A.default.weight` -> peft's saved name
    `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight` (no adapter name)."""
    return WIRE_PREFIX + name.replace(".default.", ".")


def adapter_config(config: LoraConfig) -> str:
    """peft's adapter_config.json for adapters made by `add_adapters(config)`."""
    return json.dumps({"peft_type": "LORA", "r": config.rank, "lora_alpha": config.alpha,
                       "lora_dropout": config.dropout, "target_modules": sorted(config.target_modules),
                       "bias": "none", "task_type": "CAUSAL_LM", "use_rslora": False, "use_dora": False},
                      sort_keys=True)


def scale_of(adapter_config_json: str) -> tuple[int, float]:
    """(r, alpha / r) of an adapter_config.json; ValueError naming the field when it is not one
    plain LoRA (rank-stabilised scaling, DoRA and bias terms are not merged here)."""
    try:
        fields = json.loads(adapter_config_json)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(fields, dict) or fields.get("peft_type", "LORA") != "LORA":
        raise ValueError("peft_type: only LORA adapters are supported")
    r, alpha = fields.get("r"), fields.get("lora_alpha")
    if not isinstance(r, int) or r < 1:
        raise ValueError(f"r: must be an integer >= 1, got {r!r}")
    if not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ValueError(f"lora_alpha: must be a number > 0, got {alpha!r}")
    for flag in ("use_rslora", "use_dora"):
        if fields.get(flag):
            raise ValueError(f"{flag}: not supported")
    if fields.get("bias", "none") != "none":
        raise ValueError("bias: only 'none' is supported")
    return r, alpha / r


def merge_weight(weight: torch.Tensor, a: torch.Tensor, b: torch.Tensor, scale: float) -> torch.Tensor:
    """W + scale * B A, computed in fp32 and returned in W's dtype."""
    return (weight.float() + scale * (b.float() @ a.float())).to(weight.dtype)


def check_adapter(tensors: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor],
                  rank: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Checks a received adapter (wire names) against a model's state dict: every tensor is the
    lora_A or lora_B of a linear weight the model has, in pairs, A (rank, in) and B (out, rank),
    finite. Returns {model weight name: (A, B)}; ValueError names the tensor that does not fit."""
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in tensors.items():
        part = _A if _A in name else _B if _B in name else None
        if not name.startswith(WIRE_PREFIX) or part is None or not name.endswith(".weight"):
            raise ValueError(f"tensor {name!r} is not a LoRA weight (base_model.model.<module>.lora_A|B.weight)")
        module = name[len(WIRE_PREFIX):name.index(part)]
        if f"{module}.weight" not in state:
            raise ValueError(f"tensor {name!r}: the model has no weight {module}.weight")
        if not tensor.is_floating_point() or not torch.isfinite(tensor).all():
            raise ValueError(f"tensor {name!r} is not floating point or holds non-finite values (NaN or Inf)")
        pairs.setdefault(module, {})[part] = tensor
    if not pairs:
        raise ValueError("no LoRA weights in the payload")
    checked = {}
    for module, parts in sorted(pairs.items()):
        if len(parts) != 2:
            missing = (_B if _A in parts else _A).strip(".")
            raise ValueError(f"tensor {WIRE_PREFIX}{module}.{missing}.weight is missing")
        a, b = parts[_A], parts[_B]
        out_features, in_features = state[f"{module}.weight"].shape
        if list(a.shape) != [rank, in_features] or list(b.shape) != [out_features, rank]:
            raise ValueError(f"tensors of {module}: lora_A {list(a.shape)} and lora_B {list(b.shape)}, expected "
                             f"[{rank}, {in_features}] and [{out_features}, {rank}] for r={rank}")
        checked[f"{module}.weight"] = (a, b)
    return checked


def export_name(name: str) -> str | None:
    """The plain model's name of a state-dict entry of an adapted model (None for adapter tensors,
    which merge into their base weight): `q_proj.base_layer.weight` -> `q_proj.weight`."""
    return None if is_adapter(name) else name.replace(_BASE, ".")


def base_weights(weights: Iterable[tuple[str, torch.Tensor]]) -> Iterator[tuple[str, torch.Tensor]]:
    """The base model's weights from an adapted model's state-dict entries: adapters dropped, every
    other entry under the plain model's name."""
    for name, tensor in weights:
        if not is_adapter(name):
            yield export_name(name), tensor


def merged_weights(weights: Iterable[tuple[str, torch.Tensor]], scale: float) -> Iterator[tuple[str, torch.Tensor]]:
    """The weights of the plain model from an adapted model's state-dict entries, in order: each
    `<module>.base_layer.weight` is held until its lora_A and lora_B arrive (they follow it in a
    state dict), then yielded merged under `<module>.weight`; every other entry passes renamed."""
    pending: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in weights:
        if name.endswith(f"{_BASE}weight"):
            module, part = name[:-len(f"{_BASE}weight")], "W"
        elif is_adapter(name):
            part = _A if _A in name else _B
            module = name[:name.index(part)]
        else:
            yield export_name(name), tensor
            continue
        pending.setdefault(module, {})[part] = tensor
        if len(pending[module]) == 3:
            parts = pending.pop(module)
            yield f"{module}.weight", merge_weight(parts["W"], parts[_A], parts[_B], scale)
    if pending:
        raise RuntimeError(f"adapters without their base weight or pair: {sorted(pending)}")
