"""`rlhf train sft`: supervised fine-tuning on labeler demonstrations, loss on completion tokens only."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pipelines.common import (MetricsLog, all_records, autocast, data_store, metrics_path, publish, resolve_model,
                              seed_everything, within_max_length)
from rlhf.algos.sft import sft_loss
from rlhf.config import Config
from rlhf.data.records import split_demonstration
from rlhf.models import load_policy, load_tokenizer
from rlhf.models.loading import save_model
from rlhf.models.scoring import instruction_ids


def encode_pair(tokenizer, prompt: str | list[dict], completion: str) -> tuple[list[int], int]:
    """Token ids of the formatted prompt (an instruction or a conversation) followed by the
    completion and EOS; returns (ids, number of prompt tokens)."""
    (prompt_ids,) = instruction_ids(tokenizer, [prompt])
    completion_ids = tokenizer(completion, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    return prompt_ids + completion_ids, len(prompt_ids)


def collate(examples: list[tuple[list[int], int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pads; loss_mask marks completion tokens (the targets SFT learns)."""
    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    loss_mask = torch.zeros_like(input_ids)
    for row, (ids, prompt_len) in enumerate(examples):
        input_ids[row, :len(ids)] = torch.tensor(ids)
        attention_mask[row, :len(ids)] = 1
        loss_mask[row, prompt_len:len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "loss_mask": loss_mask}


def epoch_batches(n: int, batch_size: int, epochs: float, seed: int) -> list[np.ndarray]:
    """Index batches over `epochs` shuffled passes (the last pass may be partial)."""
    rng = np.random.default_rng(seed)
    steps = max(1, math.ceil(n * epochs / batch_size))
    order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(steps * batch_size / n))])
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(steps)]


def train_sft(config: Config) -> Path:
    cfg = config.sft
    seed_everything(cfg.seed)
    base = resolve_model(cfg.base_model)
    tokenizer = load_tokenizer(base)
    model = load_policy(base).train()
    with data_store(config) as store:
        records = all_records(store, cfg.demonstrations)
    if not records:
        raise ValueError(f"sft.demonstrations: record set {cfg.demonstrations!r} is empty")
    examples = [encode_pair(tokenizer, *split_demonstration(r)) for r in records]
    keep = within_max_length([len(ids) for ids, _ in examples], records, cfg.demonstrations, "sft", cfg.max_length,
                             cfg.skip_overlength)
    examples = [examples[i] for i in keep]
    batches = epoch_batches(len(examples), cfg.batch_size, cfg.epochs, cfg.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.0)
    warmup = max(1, len(batches) // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    output = Path(cfg.output_dir)
    log = MetricsLog(metrics_path(output), "sft")

    progress = tqdm(batches, desc="sft", unit="step")
    for step, indices in enumerate(progress):
        batch = collate([examples[i] for i in indices], tokenizer.pad_token_id)
        with autocast(cfg.bf16_autocast):
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = sft_loss(logits.float(), batch["input_ids"], batch["loss_mask"])
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        progress.set_postfix(loss=f"{loss.item():.3f}")
        log.write(step=step, loss=loss.item(), grad_norm=float(grad_norm), lr=schedule.get_last_lr()[0])
    save_model(output, model.eval(), tokenizer)
    publish(output, cfg.output_uri, "sft")
    print(f"sft: wrote {output} ({len(batches)} steps over {len(examples)} demonstrations)", flush=True)
    return output
