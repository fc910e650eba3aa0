"""Batched sampling with a KV cache over a Hugging Face causal LM: the policy-inference engine.

Every item carries its own sampling parameters and seed, so one batch can mix requests from many
callers. Three properties make the results usable by the PPO trainer:

- Left padding with an attention mask and explicit position ids (cumsum of the mask - 1): a
  prompt gets the same logits whatever it is batched with.
- Each row draws its randomness from its own `torch.Generator`, seeded from the row's seed key
  (seed, prompt index, sample index): a row's samples do not depend on its batch neighbours.
- Log-probs are read under the model's own distribution (log_softmax of the raw logits:
  temperature 1, no top-p/top-k), which is what the trainer recomputes and compares against.

Two rules shape what an answer can be, in both engines (vLLM: `min_tokens=1` and `NoControlTokens`):
it is never empty (EOS is not a candidate for its first token), and it never holds one of the
tokenizer's control tokens (`control_token_ids`: a chat turn's start, a document separator). Either
lets the policy end its answer before it says anything ("<|im_start|>user\n" decodes to "user\n"),
and a reward model that never saw such an answer in its comparisons may score it above real
answers; PPO then learns to write nothing (docs/demo-results.md). Log-probs stay the model's own.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

from rlhf.models.scoring import left_pad

STOP = "stop"      # an end-of-sequence token was sampled (it is included in the completion)
LENGTH = "length"  # max_new_tokens reached


def control_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The tokenizer's special tokens other than EOS (for SmolLM2: <|im_start|>, <|endoftext|> and
    its 14 code-corpus markers): never part of an answer, so never sampled."""
    special = set(tokenizer.all_special_ids)
    special |= {token_id for token_id, token in tokenizer.added_tokens_decoder.items() if token.special}
    return sorted(special - {tokenizer.eos_token_id})


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int
    temperature: float = 1.0  # 0 means greedy
    top_p: float = 1.0        # in (0, 1]; 1 keeps every token
    top_k: int = 0            # 0 keeps every token


@dataclass(frozen=True)
class GenerationItem:
    """One completion to sample. `seed` is a key such as (seed, prompt index, sample index);
    None samples from fresh OS randomness."""

    prompt_ids: Sequence[int]
    params: SamplingParams
    seed: tuple[int, ...] | None = None


@dataclass
class Completion:
    token_ids: list[int]
    logprobs: list[float]  # log pi(token | prefix), raw model distribution
    finish_reason: str     # STOP or LENGTH


def max_sequence_length(model: PreTrainedModel) -> int:
    """Prompt + completion tokens one sequence may hold: the model's position-embedding range."""
    return int(model.config.max_position_embeddings)


def seed_value(seed: tuple[int, ...]) -> int:
    """A 63-bit seed from a row's key (seed, prompt index, sample index), via a hash of the key."""
    digest = hashlib.sha256(",".join(str(int(part)) for part in seed).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def row_generator(seed: tuple[int, ...] | None, device: torch.device | str = "cpu") -> torch.Generator:
    """The generator of one row: seeded from a hash of its key, or from the OS when None."""
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed_value(seed))
    return generator


def _check(items: Sequence[GenerationItem], limit: int) -> None:
    for i, item in enumerate(items):
        params = item.params
        if len(item.prompt_ids) == 0:
            raise ValueError(f"items[{i}].prompt_ids: empty prompt")
        if params.max_new_tokens < 1:
            raise ValueError(f"items[{i}].max_new_tokens: must be >= 1, got {params.max_new_tokens}")
        if len(item.prompt_ids) + params.max_new_tokens > limit:
            raise ValueError(f"items[{i}]: {len(item.prompt_ids)} prompt + {params.max_new_tokens} new tokens "
                             f"exceed the model's max_sequence_length {limit}")
        if params.temperature < 0 or not 0 < params.top_p <= 1 or params.top_k < 0:
            raise ValueError(f"items[{i}].params: need temperature >= 0, 0 < top_p <= 1, top_k >= 0; got {params}")


def _top_filter(scores: torch.Tensor, top_p: torch.Tensor, top_k: torch.Tensor) -> torch.Tensor:
    """Sets to -inf every token outside each row's top-k and top-p nucleus (the most likely token
    always stays)."""
    ordered, order = scores.sort(-1, descending=True)
    probs = ordered.softmax(-1)
    rank = torch.arange(scores.shape[-1], device=scores.device)[None]
    k = torch.where(top_k > 0, top_k, scores.shape[-1])[:, None]
    keep = ((rank < k) & (probs.cumsum(-1) - probs < top_p[:, None])) | (rank == 0)
    return torch.full_like(scores, float("-inf")).scatter(1, order, ordered.masked_fill(~keep, float("-inf")))


def _choose(logits: torch.Tensor, temperature: torch.Tensor, top_p: torch.Tensor, top_k: torch.Tensor,
            generators: list[torch.Generator]) -> torch.Tensor:
    """Next token per row: argmax where temperature is 0, else a Gumbel-max sample from the
    temperature-scaled, top-k/top-p filtered logits with noise from the row's own generator.
    Only rows that filter pay for a sort."""
    sampling = temperature > 0
    scores = logits / torch.where(sampling, temperature, 1.0)[:, None]
    filtering = sampling & ((top_p < 1) | (top_k > 0))
    if filtering.any():
        scores[filtering] = _top_filter(scores[filtering], top_p[filtering], top_k[filtering])
    rows = sampling.nonzero().squeeze(1).tolist()
    if rows:
        uniform = torch.stack([torch.rand(scores.shape[-1], generator=generators[r], device=scores.device)
                               for r in rows])
        scores[rows] += -torch.log(-torch.log(uniform))
    return scores.argmax(-1)


@contextlib.contextmanager
def linear_weights_cast_once(model: torch.nn.Module) -> Iterator[None]:
    """Under autocast, the model's Linear layers use their weights cast to the autocast dtype once,
    for the whole block, instead of once per forward pass; outside autocast it does nothing.

    Autocast casts an fp32 weight at every call (it caches the cast only for weights that require
    grad, and never under inference mode): a decode step of SmolLM2-135M on 2 cores spent 45% of
    its time casting (114 ms a token for 16 rows, 77 ms with the casts done once). The copies are
    the tensors autocast would compute, so every logit is the same bit for bit. Each Linear gets
    its copy as a new parameter and its own back at the end, so a tied weight (SmolLM2's lm_head is
    its token embedding) stays fp32 for the embedding lookup, as under autocast, and tied again
    after; state_dict, weight swaps and hashes between blocks see the fp32 weights. The copies hold
    half as much memory again as those weights while the block runs."""
    device_type = next(model.parameters()).device.type
    if not torch.is_autocast_enabled(device_type):
        yield
        return
    dtype = torch.get_autocast_dtype(device_type)
    originals = []
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and module.weight.dtype == torch.float32:
            originals.append((module, module.weight, module.bias))
            module.weight = torch.nn.Parameter(module.weight.detach().to(dtype), requires_grad=False)
            if module.bias is not None:
                module.bias = torch.nn.Parameter(module.bias.detach().to(dtype), requires_grad=False)
    try:
        yield
    finally:
        for module, weight, bias in originals:
            module.weight, module.bias = weight, bias


@torch.inference_mode()
def generate_batch(model: PreTrainedModel, items: Sequence[GenerationItem], *, eos_token_id: int | Sequence[int],
                   pad_token_id: int, never_sampled: Sequence[int] = ()) -> list[Completion]:
    """Samples one completion per item in a single batch: a prefill over the left-padded distinct
    prompts, then one token per step from the KV cache. A row leaves the batch when it samples an
    EOS token (never as its first) or reaches its own max_new_tokens; the loop ends when every row
    has. Tokens in `never_sampled` (`control_token_ids`) are never chosen. Raises ValueError on an
    item the model cannot hold (empty prompt, no new tokens, longer than the context)."""
    if not items:
        return []
    _check(items, max_sequence_length(model))
    with linear_weights_cast_once(model):
        return _generate(model, items, eos_token_id, pad_token_id, never_sampled)


def _generate(model: PreTrainedModel, items: Sequence[GenerationItem], eos_token_id: int | Sequence[int],
              pad_token_id: int, never_sampled: Sequence[int]) -> list[Completion]:
    device = model.device
    eos = {eos_token_id} if isinstance(eos_token_id, int) else set(eos_token_id)

    # A prompt sampled n times (the label stage's K completions) is prefilled once; its rows of the
    # cache and the first logits are then copied to each of its items.
    prompt_rows: dict[tuple[int, ...], int] = {}  # distinct prompt -> its row in the prefill
    row_of_item = [prompt_rows.setdefault(tuple(item.prompt_ids), len(prompt_rows)) for item in items]
    input_ids, mask = left_pad(list(prompt_rows), pad_token_id, device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)

    temperature = torch.tensor([item.params.temperature for item in items], device=device)
    top_p = torch.tensor([item.params.top_p for item in items], device=device)
    top_k = torch.tensor([item.params.top_k for item in items], device=device)
    generators = [row_generator(item.seed, device) for item in items]

    cache = DynamicCache(config=model.config)
    logits = model(input_ids=input_ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                   use_cache=True, logits_to_keep=1).logits[:, -1].float()
    if len(prompt_rows) < len(items):
        item_rows = torch.tensor(row_of_item, device=device)
        cache.batch_select_indices(item_rows)
        logits, mask = logits[item_rows], mask[item_rows]
    next_position = mask.sum(-1)
    active = torch.arange(len(items), device=device)  # the item of each batch row
    tokens: list[list[int]] = [[] for _ in items]
    logprobs: list[list[float]] = [[] for _ in items]
    finish: list[str] = [LENGTH] * len(items)

    # The module's two rules: no control token ever, no EOS as the first token.
    never = torch.tensor(sorted(set(never_sampled)), dtype=torch.long, device=device)
    banned = torch.tensor(sorted(eos | set(never_sampled)), dtype=torch.long, device=device)
    while True:
        rows = active.tolist()
        step_logprobs = logits.log_softmax(-1)  # the model's own, before the rules mask the logits
        logits.index_fill_(1, banned, float("-inf"))
        banned = never
        chosen = _choose(logits, temperature[active], top_p[active], top_k[active], [generators[r] for r in rows])
        chosen_logprobs = step_logprobs.gather(1, chosen[:, None]).squeeze(1)
        going_on = []
        for index, (row, token, logprob) in enumerate(zip(rows, chosen.tolist(), chosen_logprobs.tolist())):
            tokens[row].append(token)
            logprobs[row].append(logprob)
            if token in eos:
                finish[row] = STOP
            elif len(tokens[row]) < items[row].params.max_new_tokens:
                going_on.append(index)
        if not going_on:
            break
        if len(going_on) < len(rows):
            keep = torch.tensor(going_on, device=device)
            cache.batch_select_indices(keep)
            active, chosen, mask, next_position = active[keep], chosen[keep], mask[keep], next_position[keep]
        mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
        logits = model(input_ids=chosen[:, None], attention_mask=mask, position_ids=next_position[:, None],
                       past_key_values=cache, use_cache=True).logits[:, -1].float()
        next_position = next_position + 1

    return [Completion(tokens[row], logprobs[row], finish[row]) for row in range(len(items))]
