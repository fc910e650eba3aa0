"""`rlhf label`: the SFT policy samples K completions per prompt and a labeler ranks them,
producing comparison records exactly like human ones (`{"prompt", "completions", "ranking"}`)."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from pipelines.common import all_records, data_store, resolve_model
from rlhf.clients.policy_inference import PolicyInferenceClient
from rlhf.config import Config, service_address
from rlhf.labelers import SimulatedLabeler
from rlhf.models import load_policy, load_tokenizer
from rlhf.models.scoring import instruction_ids


def label(config: Config) -> dict[str, int]:
    """Writes <output>/train and <output>/heldout comparison sets; returns their sizes. The SFT
    model (sft.output_dir) is pushed to policy-inference first, and its tokenizer formats the prompts."""
    cfg = config.label
    if not 2 <= cfg.k <= 9:
        raise ValueError(f"label.k: {cfg.k} is outside 2..9")
    sft_dir = resolve_model(config.sft.output_dir)
    tokenizer = load_tokenizer(sft_dir)
    labeler = SimulatedLabeler(seed=cfg.seed, noise=cfg.noise)
    sizes = {}
    with data_store(config) as store, \
            PolicyInferenceClient(service_address(config, "policy_inference"), config.clients) as policy:
        # Sample from exactly this SFT model, whatever the service was serving before (a long-lived
        # service may hold the last PPO policy of an earlier run).
        weights = load_policy(sft_dir).state_dict()
        policy.update_weights(weights)
        for split, record_set, count in (("train", cfg.prompts, cfg.num_prompts),
                                         ("heldout", cfg.heldout_prompts, cfg.num_heldout)):
            records = all_records(store, record_set)
            chosen = np.random.default_rng(cfg.seed).permutation(len(records))[:count]
            comparisons = []
            batch = 8
            for start in tqdm(range(0, len(chosen), batch), desc=f"label[{split}]", unit="batch"):
                prompts = [records[i] for i in chosen[start:start + batch]]
                prompt_ids = instruction_ids(tokenizer, [r["prompt"] for r in prompts])
                gen = policy.generate_pinned(lambda: weights, prompt_ids=prompt_ids, n=cfg.k,
                                             max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                                             seed=cfg.seed * 1_000_003 + start)
                texts = gen.texts
                for i, record in enumerate(prompts):
                    comparisons.append(labeler.label(record, texts[i * cfg.k:(i + 1) * cfg.k]))
            sizes[split] = store.put_records(f"{cfg.output}/{split}", "comparisons", comparisons)
    print(f"label: {sizes} comparison records of K={cfg.k}", flush=True)
    return sizes
