"""`rlhf train rm`: the reward model on K-way rankings.

Each prompt's K completions go through ONE forward pass in the same batch, and every one of its
C(K,2) pairs contributes -log sigmoid(r_w - r_l), weighted 1/C(K,2) (InstructGPT section 3.5).
After training the scores are shifted so that SFT demonstrations score mean 0.

Runs alone or under torchrun like SFT (`pipelines.sft`): each rank scores its share of a step's
prompts, in `parallel.gradient_accumulation_steps` micro-batches, weighted so every world size computes the
single-process gradient. Every rank evaluates the held-out set and the demonstrations whole (a
sharded model needs every rank in every forward); only rank 0 logs and writes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from tqdm import tqdm

from pipelines.common import (MetricsLog, data_store, metrics_path, publish, resolve_model, seed_everything,
                              within_max_length)
from pipelines.sft import epoch_batches, my_micro_batches
from rlhf import parallel
from rlhf.algos.reward import ranking_loss, ranking_pairs, reward_bias_shift
from rlhf.config import Config
from rlhf.data.records import split_demonstration
from rlhf.device import autocast, close_distributed, device, init_distributed
from rlhf.models import decoder_layers, freeze_lower_layers, load_reward_model, load_tokenizer
from rlhf.models.scoring import reward_inputs, sequence_scores, tokenize_texts
from rlhf.storage import write_uri


Group = tuple[list[list[int]], list[int]]  # token ids of each completion's reward input, ranking best first


def comparison_groups(tokenizer, records: list[dict], record_set: str, max_length: int, skip: bool) -> list[Group]:
    """One group per comparison (or demonstration, a group of one), tokenized exactly as the reward
    service tokenizes (prompt, completion) text. Pairs are never truncated (the reward is read at
    the last token): records with a pair over max_length fail here, before training, naming the set
    and line (or are skipped and counted with `skip`)."""
    groups = []
    for record in records:
        if "ranking" in record:
            prompt, completions, ranking = record["prompt"], record["completions"], record["ranking"]
        else:
            prompt, completion = split_demonstration(record)
            completions, ranking = [completion], [0]
        groups.append((tokenize_texts(tokenizer, [reward_inputs(tokenizer, prompt, c) for c in completions]), ranking))
    keep = within_max_length([max(map(len, sequences)) for sequences, _ in groups], records, record_set, "rm",
                             max_length, skip)
    return [groups[i] for i in keep]


class SequenceScores(torch.nn.Module):
    """The reward of each token-id sequence (`sequence_scores`) as a module whose forward runs the
    model, so DDP and FSDP2 see (and sync) that forward."""

    def __init__(self, model: torch.nn.Module, device: torch.device):
        super().__init__()
        self.model = model
        self.device = device

    def forward(self, sequences: list[list[int]]) -> torch.Tensor:
        return sequence_scores(self.model, sequences, self.device)


def score_groups(model: torch.nn.Module, groups: list[Group], bf16: bool) -> torch.Tensor:
    """Flat rewards of every completion of every group, in group order, in one forward pass of
    `model` (a SequenceScores, possibly wrapped by DDP / FSDP2)."""
    with autocast(bf16):
        return model([ids for sequences, _ in groups for ids in sequences]).float()


def evaluate_accuracy(model, groups: list[Group], bf16: bool, batch: int = 8) -> float:
    """Fraction of all held-out pairs the model orders like the labeler."""
    correct = total = 0
    with torch.no_grad():
        for start in range(0, len(groups), batch):
            chunk = groups[start:start + batch]
            rewards = score_groups(model, chunk, bf16)
            pairs = ranking_pairs([ranking for _, ranking in chunk])
            correct += (rewards[pairs.winner] > rewards[pairs.loser]).sum().item()
            total += len(pairs.winner)
    return correct / max(total, 1)


def train_rm(config: Config) -> Path:
    cfg = config.rm
    rank, world = init_distributed()
    here = device()
    seed_everything(cfg.seed)
    init = resolve_model(cfg.init_model)
    tokenizer = load_tokenizer(init)
    model = load_reward_model(init).train()
    frozen = freeze_lower_layers(model, cfg.frozen_fraction)
    scorer = SequenceScores(model, here)
    module = parallel.wrap(scorer, model, cfg.parallel, device=here, world=world, bf16=cfg.bf16_autocast)
    local, total = parallel.held_parameters(model)
    print(f"rm: rank {rank} of {world} ({cfg.parallel.strategy}) holds {local} of {total} parameters; "
          f"the lowest {frozen} of {len(decoder_layers(model))} decoder layers frozen", flush=True)
    with data_store(config) as store:
        groups, heldout, demo_groups = (
            comparison_groups(tokenizer, store.read_records(record_set), record_set, cfg.max_length,
                              cfg.skip_overlength) if record_set else []
            for record_set in (cfg.comparisons, cfg.heldout_comparisons, cfg.demonstrations))
    if not groups:
        raise ValueError(f"rm.comparisons: record set {cfg.comparisons!r} is empty")
    batches = epoch_batches(len(groups), cfg.prompts_per_batch, cfg.epochs, cfg.seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate,
                                  weight_decay=0.0, fused=True)  # fused: as SFT's
    output = Path(cfg.output_dir)
    log = MetricsLog(metrics_path(output), "rm")

    progress = tqdm(batches, desc="rm", unit="step", disable=rank != 0)
    for step, indices in enumerate(progress):
        start = time.perf_counter()
        micro = my_micro_batches(indices, rank, world, cfg.parallel.gradient_accumulation_steps, "rm.prompts_per_batch")
        loss_sum = accuracy_sum = 0.0
        for i, part in enumerate(micro):
            chunk = [groups[j] for j in part]
            with parallel.grad_sync(module, i == len(micro) - 1):
                rewards = score_groups(module, chunk, cfg.bf16_autocast)
                loss, accuracy = ranking_loss(rewards, ranking_pairs([ranking for _, ranking in chunk]))
                # ranking_loss averages over the micro-batch's prompts; weigh it by its share of the
                # global batch (times world, since the gradient reduction averages over ranks).
                (loss * len(chunk) * world / len(indices)).backward()
            loss_sum += loss.item() * len(chunk)
            accuracy_sum += accuracy.item() * len(chunk)
        parallel.clip_grad_norm(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss, accuracy = (parallel.all_sum([loss_sum, accuracy_sum]) / len(indices)).tolist()
        if rank == 0:
            progress.set_postfix(loss=f"{loss:.3f}", acc=f"{accuracy:.2f}")
            log.write(step=step, loss=loss, accuracy=accuracy,
                      completions=sum(len(groups[i][0]) for i in indices), step_seconds=time.perf_counter() - start)
    scorer.eval()

    summary = {"train_prompts": len(groups), "steps": len(batches)}
    if heldout:
        summary["heldout_accuracy"] = evaluate_accuracy(scorer, heldout, cfg.bf16_autocast)
        summary["heldout_prompts"] = len(heldout)
    if demo_groups:
        with torch.no_grad():
            scores = torch.cat([score_groups(scorer, demo_groups[i:i + 16], cfg.bf16_autocast)
                                for i in range(0, len(demo_groups), 16)])
        model.config.reward_offset = getattr(model.config, "reward_offset", 0.0) + reward_bias_shift(scores)
        summary["reward_offset"] = model.config.reward_offset
    parallel.save_pretrained(output, model, tokenizer, rank)
    if rank == 0:
        (output.parent / f"{output.name}_summary.json").write_text(json.dumps(summary, indent=2))
        publish(output, cfg.output_uri, "rm")
        if cfg.output_uri:
            write_uri(f"{cfg.output_uri.rstrip('/')}/rm_summary.json", json.dumps(summary, indent=2).encode())
        print(f"rm: wrote {output}: {json.dumps(summary)}", flush=True)
    close_distributed()
    return output
