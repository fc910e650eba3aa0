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
                              seed_everything)
from pipelines.sft import epoch_batches
from rlhf.algos.reward import ranking_loss, ranking_pairs, reward_bias_shift
from rlhf.config import Config
from rlhf.models import load_reward_model, load_tokenizer
from rlhf.models.loading import save_model
from rlhf.models.scoring import reward_inputs, sequence_scores, tokenize_texts
from rlhf.storage import write_uri


def comparison_groups(records: list[dict]) -> list[tuple[str, list[str], list[int]]]:
    """(prompt, completions, ranking best first) per record; the pairwise form is K = 2."""
    groups = []
    for r in records:
        if "completions" in r:
            groups.append((r["prompt"], r["completions"], r["ranking"]))
        else:
            groups.append((r["prompt"], [r["chosen"], r["rejected"]], [0, 1]))
    return groups


def score_groups(model, tokenizer, groups, max_length: int, bf16: bool) -> torch.Tensor:
    """Flat rewards of every completion of every group, in group order, one forward pass, tokenized
    and read exactly as the reward service does. Pairs are never truncated (the reward is read at
    the last token), so a longer one is an error."""
    texts = [reward_inputs(tokenizer, prompt, c) for prompt, completions, _ in groups for c in completions]
    sequences = tokenize_texts(tokenizer, texts)
    for ids, text in zip(sequences, texts):
        if len(ids) > max_length:
            raise ValueError(f"rm.max_length: a (prompt, completion) pair is {len(ids)} tokens, max {max_length} "
                             f"(starts {text[:60]!r}); raise rm.max_length or drop the record")
    with autocast(bf16):
        return sequence_scores(model, sequences).float()


def evaluate_accuracy(model, tokenizer, groups, max_length: int, bf16: bool, batch: int = 8) -> float:
    """Fraction of all held-out pairs the model orders like the labeler."""
    correct = total = 0
    with torch.no_grad():
        for start in range(0, len(groups), batch):
            chunk = groups[start:start + batch]
            rewards = score_groups(model, tokenizer, chunk, max_length, bf16)
            pairs = ranking_pairs([ranking for _, _, ranking in chunk])
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
        groups = comparison_groups(all_records(store, cfg.comparisons))
        heldout = comparison_groups(all_records(store, cfg.heldout_comparisons)) if cfg.heldout_comparisons else []
        demonstrations = all_records(store, cfg.demonstrations) if cfg.demonstrations else []
    if not groups:
        raise ValueError(f"rm.comparisons: record set {cfg.comparisons!r} is empty")
    batches = epoch_batches(len(groups), cfg.prompts_per_batch, cfg.epochs, cfg.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.0)
    output = Path(cfg.output_dir)
    log = MetricsLog(metrics_path(output), "rm")

    progress = tqdm(batches, desc="rm", unit="step")
    for step, indices in enumerate(progress):
        chunk = [groups[i] for i in indices]
        rewards = score_groups(model, tokenizer, chunk, cfg.max_length, cfg.bf16_autocast)
        loss, accuracy = ranking_loss(rewards, ranking_pairs([ranking for _, _, ranking in chunk]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        progress.set_postfix(loss=f"{loss.item():.3f}", acc=f"{accuracy.item():.2f}")
        log.write(step=step, loss=loss.item(), accuracy=accuracy.item(),
                  completions=sum(len(c) for _, c, _ in chunk))
    model.eval()

    summary = {"train_prompts": len(groups), "steps": len(batches)}
    if heldout:
        summary["heldout_accuracy"] = evaluate_accuracy(model, tokenizer, heldout, cfg.max_length, cfg.bf16_autocast)
        summary["heldout_prompts"] = len(heldout)
    if demonstrations:
        demo_groups = [(d["prompt"], [d["completion"]], [0]) for d in demonstrations]
        with torch.no_grad():
            scores = torch.cat([score_groups(model, tokenizer, demo_groups[i:i + 16], cfg.max_length,
                                             cfg.bf16_autocast) for i in range(0, len(demo_groups), 16)])
        model.config.reward_offset = getattr(model.config, "reward_offset", 0.0) + reward_bias_shift(scores)
        summary["reward_offset"] = model.config.reward_offset
    save_model(output, model, tokenizer)
    (output.parent / f"{output.name}_summary.json").write_text(json.dumps(summary, indent=2))
    publish(output, cfg.output_uri, "rm")
    if cfg.output_uri:
        write_uri(f"{cfg.output_uri.rstrip('/')}/rm_summary.json", json.dumps(summary, indent=2).encode())
    print(f"rm: wrote {output}: {json.dumps(summary)}", flush=True)
    return output
