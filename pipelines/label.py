"""`rlhf label`: where the reward model's rankings come from (`label.source`).

- "simulated": the SFT policy samples K completions per prompt and the simulated labeler ranks
  them by the prompts' verifiable constraints, producing comparison records exactly like human
  ones (`{"prompt", "completions", "ranking"}`).
- "import": rankings a team already has, imported with `rlhf data import comparisons/...=FILE`;
  nothing is sampled, the sets are checked and counted.
"""

from __future__ import annotations

import grpc
import numpy as np
from tqdm import tqdm

from pipelines.common import SeedUse, data_store, derive_seed, resolve_model
from rlhf.clients.base import ServiceError
from rlhf.clients.policy_inference import PolicyInferenceClient
from rlhf.config import Config, service_address
from rlhf.labelers import SimulatedLabeler
from rlhf.models import load_policy, load_tokenizer
from rlhf.models.scoring import instruction_ids


def comparison_sets(config: Config) -> dict[str, str]:
    """split -> comparison record set: the ones the label stage writes (simulated), or the imported
    ones the RM stage will read (import; no held-out set when rm.heldout_comparisons is "")."""
    if config.label.source == "simulated":
        return {split: f"{config.label.output}/{split}" for split in ("train", "heldout")}
    sets = {"train": config.rm.comparisons, "heldout": config.rm.heldout_comparisons}
    return {split: record_set for split, record_set in sets.items() if record_set}


def check_label_source(config: Config, store) -> None:
    """Fails before any model loads when the data cannot feed `label.source`: the simulated labeler
    needs constraints on every prompt it ranks; import needs the comparison sets in the store."""
    cfg = config.label
    if cfg.source == "simulated":
        for record_set in (cfg.prompts, cfg.heldout_prompts):
            for line, record in enumerate(store.read_records(record_set), 1):
                if not SimulatedLabeler.can_judge(record):
                    raise ValueError(
                        f"label.source=simulated: record set {record_set!r} line {line} has no constraints, and the "
                        "simulated labeler only ranks by verifiable constraints; import your own rankings "
                        "(`rlhf data import comparisons/train=FILE comparisons/heldout=FILE`) and set label.source=import")
        return
    for split, record_set in comparison_sets(config).items():
        try:
            store.count_records(record_set)
        except ServiceError as exc:
            if exc.code != grpc.StatusCode.NOT_FOUND:
                raise
            raise ValueError(f"label.source=import: record set {record_set!r} is missing; import it "
                             f"(`rlhf data import {record_set}=FILE`)"
                             + (" or set rm.heldout_comparisons='' to skip the RM's held-out accuracy"
                                if split == "heldout" else ""))


def label(config: Config) -> dict[str, int]:
    """Writes (simulated) or checks (import) <output>/train and <output>/heldout; returns their
    sizes. Simulated: the SFT model (sft.output_dir) is pushed to policy-inference first, and its
    tokenizer formats the prompts."""
    cfg = config.label
    sets = comparison_sets(config)
    with data_store(config) as store:
        check_label_source(config, store)
        if cfg.source == "import":
            sizes = {split: store.count_records(record_set) for split, record_set in sets.items()}
            print(f"label: using imported comparisons {sizes}", flush=True)
            return sizes
        sft_dir = resolve_model(config.sft.output_dir)
        tokenizer = load_tokenizer(sft_dir)
        labeler = SimulatedLabeler(seed=cfg.seed, noise=cfg.noise)
        sizes = {}
        with PolicyInferenceClient(service_address(config, "policy_inference"), config.clients) as policy:
            # Sample from exactly this SFT model, whatever the service was serving before (a long-lived
            # service may hold the last PPO policy of an earlier run).
            weights = load_policy(sft_dir).state_dict()
            policy.update_weights(weights)
            for split, record_set, count in (("train", cfg.prompts, cfg.num_prompts),
                                             ("heldout", cfg.heldout_prompts, cfg.num_heldout)):
                records = store.read_records(record_set)
                chosen = np.random.default_rng(cfg.seed).permutation(len(records))[:count]
                comparisons = []
                batch = 8
                for start in tqdm(range(0, len(chosen), batch), desc=f"label[{split}]", unit="batch"):
                    prompts = [records[i] for i in chosen[start:start + batch]]
                    prompt_ids = instruction_ids(tokenizer, [r["prompt"] for r in prompts])
                    gen = policy.generate_pinned(lambda: weights, prompt_ids=prompt_ids, n=cfg.k,
                                                 max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                                                 seed=derive_seed(cfg.seed, SeedUse.LABEL, split == "heldout", start))
                    texts = gen.texts
                    for i, record in enumerate(prompts):
                        comparisons.append(labeler.label(record, texts[i * cfg.k:(i + 1) * cfg.k]))
                sizes[split] = store.put_records(sets[split], "comparisons", comparisons)
    print(f"label: {sizes} comparison records of K={cfg.k}", flush=True)
    return sizes
