"""`rlhf train sft`: supervised fine-tuning on labeler demonstrations, loss on completion tokens only.

Runs alone or under torchrun (one process per GPU): every optimizer step takes one global batch of
`sft.batch_size` demonstrations, each rank its share in `parallel.gradient_accumulation_steps` micro-batches;
the loss is normalised by the global batch's token count, so any world size computes the
single-process gradient. Only rank 0 logs and writes the model.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pipelines.common import (MetricsLog, data_store, metrics_path, publish, resolve_model, seed_everything,
                              within_max_length)
from rlhf import parallel
from rlhf.algos.sft import sft_loss
from rlhf.config import Config
from rlhf.data.records import split_demonstration
from rlhf.device import autocast, close_distributed, device, init_distributed
from rlhf.models import load_policy, load_tokenizer, lora
from rlhf.models.scoring import CompletionLogprobs, instruction_ids


def encode_pair(tokenizer, prompt: str | list[dict], completion: str) -> tuple[list[int], int]:
    """Token ids of the formatted prompt (an instruction or a conversation) followed by the
    completion and EOS; returns (ids, number of prompt tokens)."""
    (prompt_ids,) = instruction_ids(tokenizer, [prompt])
    completion_ids = tokenizer(completion, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    return prompt_ids + completion_ids, len(prompt_ids)


def epoch_batches(n: int, batch_size: int, epochs: float, seed: int) -> list[np.ndarray]:
    """Index batches over `epochs` shuffled passes (the last pass may be partial)."""
    rng = np.random.default_rng(seed)
    steps = max(1, math.ceil(n * epochs / batch_size))
    order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(steps * batch_size / n))])
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(steps)]


def my_micro_batches(indices: np.ndarray, rank: int, world: int, accumulation: int, section: str) -> list[np.ndarray]:
    """This rank's share of a global batch, as `accumulation` micro-batches of equal size."""
    if len(indices) % (world * accumulation):
        raise ValueError(f"{section}: a batch of {len(indices)} does not split into {world} ranks x "
                         f"{accumulation} gradient_accumulation_steps")
    return np.split(indices[rank::world], accumulation)


def train_sft(config: Config) -> Path:
    cfg = config.sft
    rank, world = init_distributed()
    here = device()
    seed_everything(cfg.seed)
    base = resolve_model(cfg.base_model)
    tokenizer = load_tokenizer(base)
    model = load_policy(base).train()
    if cfg.lora.rank:
        lora.add_adapters(model, cfg.lora)
    # Left-padded rows, so the LM head (a fifth of the FLOPs, over a 49k vocabulary) runs only at the
    # completion tokens, not over the prompts.
    module = parallel.wrap(CompletionLogprobs(model, here), model, cfg.parallel, device=here, world=world,
                           bf16=cfg.bf16_autocast)
    local, total = parallel.held_parameters(model)
    print(f"sft: rank {rank} of {world} ({cfg.parallel.strategy}) holds {local} of {total} parameters", flush=True)
    with data_store(config) as store:
        records = store.read_records(cfg.demonstrations)
    if not records:
        raise ValueError(f"sft.demonstrations: record set {cfg.demonstrations!r} is empty")
    examples = [encode_pair(tokenizer, *split_demonstration(r)) for r in records]
    keep = within_max_length([len(ids) for ids, _ in examples], records, cfg.demonstrations, "sft", cfg.max_length,
                             cfg.skip_overlength)
    examples = [examples[i] for i in keep]
    batches = epoch_batches(len(examples), cfg.batch_size, cfg.epochs, cfg.seed)
    # fused: one pass over the weights per step instead of one per operation (an SFT step of the demo
    # 9% faster on 2 CPU cores, the same losses).
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate,
                                  weight_decay=0.0, fused=True)
    warmup = max(1, len(batches) // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    output = Path(cfg.output_dir)
    log = MetricsLog(metrics_path(output), "sft")

    progress = tqdm(batches, desc="sft", unit="step", disable=rank != 0)
    for step, indices in enumerate(progress):
        start = time.perf_counter()
        micro = [[examples[i] for i in part]
                 for part in my_micro_batches(indices, rank, world, cfg.parallel.gradient_accumulation_steps, "sft.batch_size")]
        # Every completion token of the global batch weighs the same: each micro-batch's NLL sum is
        # divided by the global token count over world (the gradient reduction averages the ranks).
        targets = parallel.all_sum(sum(len(ids) - p for part in micro for ids, p in part)).item()
        normalizer = max(targets, 1) / world
        loss_sum = 0.0
        for i, part in enumerate(micro):
            with parallel.grad_sync(module, i == len(micro) - 1):
                with autocast(cfg.bf16_autocast):
                    logprobs, mask, _ = module([ids for ids, _ in part], [p for _, p in part])
                nll = sft_loss(logprobs, mask, normalizer)
                nll.backward()
            loss_sum += nll.item()
        grad_norm = parallel.clip_grad_norm(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        loss = parallel.all_sum(loss_sum).item() / world
        if rank == 0:
            progress.set_postfix(loss=f"{loss:.3f}")
            log.write(step=step, loss=loss, grad_norm=grad_norm, lr=schedule.get_last_lr()[0],
                      tokens=int(sum(len(examples[i][0]) for i in indices)), step_seconds=time.perf_counter() - start)
    parallel.save_pretrained(output, model.eval(), tokenizer, rank)  # with LoRA: the adapters merged in
    if rank == 0:
        publish(output, cfg.output_uri, "sft")
        print(f"sft: wrote {output} ({len(batches)} steps over {len(examples)} demonstrations)", flush=True)
    close_distributed()
    return output
