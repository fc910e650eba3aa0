"""`rlhf train rm`: the reward model on K-way rankings.

Each prompt's K completions go through ONE forward pass in the same batch, and every one of its
C(K,2) pairs contributes -log sigmoid(r_w - r_l), weighted 1/C(K,2) (InstructGPT section 3.5).
After training the scores are shifted so that SFT demonstrations score mean 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tqdm import tqdm

from pipelines.common import (MetricsLog, all_records, autocast, data_store, metrics_path, publish, resolve_model,
                              seed_everything, within_max_length)
from pipelines.sft import epoch_batches
from rlhf.algos.reward import ranking_loss, ranking_pairs, reward_bias_shift
from rlhf.config import Config
from rlhf.data.records import split_demonstration
from rlhf.models import load_reward_model, load_tokenizer
from rlhf.models.loading import save_model
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


def score_groups(model, groups: list[Group], bf16: bool) -> torch.Tensor:
    """Flat rewards of every completion of every group, in group order, in one forward pass."""
    with autocast(bf16):
        return sequence_scores(model, [ids for sequences, _ in groups for ids in sequences]).float()


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
    seed_everything(cfg.seed)
    init = resolve_model(cfg.init_model)
    tokenizer = load_tokenizer(init)
    model = load_reward_model(init).train()
    with data_store(config) as store:
        groups, heldout, demo_groups = (
            comparison_groups(tokenizer, all_records(store, record_set), record_set, cfg.max_length,
                              cfg.skip_overlength) if record_set else []
            for record_set in (cfg.comparisons, cfg.heldout_comparisons, cfg.demonstrations))
    if not groups:
        raise ValueError(f"rm.comparisons: record set {cfg.comparisons!r} is empty")
    batches = epoch_batches(len(groups), cfg.prompts_per_batch, cfg.epochs, cfg.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.0)
    output = Path(cfg.output_dir)
    log = MetricsLog(metrics_path(output), "rm")

    progress = tqdm(batches, desc="rm", unit="step")
    for step, indices in enumerate(progress):
        chunk = [groups[i] for i in indices]
        rewards = score_groups(model, chunk, cfg.bf16_autocast)
        loss, accuracy = ranking_loss(rewards, ranking_pairs([ranking for _, ranking in chunk]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        progress.set_postfix(loss=f"{loss.item():.3f}", acc=f"{accuracy.item():.2f}")
        log.write(step=step, loss=loss.item(), accuracy=accuracy.item(),
                  completions=sum(len(sequences) for sequences, _ in chunk))
    model.eval()

    summary = {"train_prompts": len(groups), "steps": len(batches)}
    if heldout:
        summary["heldout_accuracy"] = evaluate_accuracy(model, heldout, cfg.bf16_autocast)
        summary["heldout_prompts"] = len(heldout)
    if demo_groups:
        with torch.no_grad():
            scores = torch.cat([score_groups(model, demo_groups[i:i + 16], cfg.bf16_autocast)
                                for i in range(0, len(demo_groups), 16)])
        model.config.reward_offset = getattr(model.config, "reward_offset", 0.0) + reward_bias_shift(scores)
        summary["reward_offset"] = model.config.reward_offset
    save_model(output, model, tokenizer)
    (output.parent / f"{output.name}_summary.json").write_text(json.dumps(summary, indent=2))
    publish(output, cfg.output_uri, "rm")
    if cfg.output_uri:
        write_uri(f"{cfg.output_uri.rstrip('/')}/rm_summary.json", json.dumps(summary, indent=2).encode())
    print(f"rm: wrote {output}: {json.dumps(summary)}", flush=True)
    return output
