"""`rlhf label`: where the reward model's rankings come from (`label.source`).

- "simulated": the SFT policy samples K completions per prompt and the simulated labeler ranks
  them by the prompts' verifiable constraints, producing comparison records exactly like human
  ones (`{"prompt", "completions", "ranking"}`).
- "import": rankings a team already has, imported with `rlhf data import comparisons/...=FILE`;
  nothing is sampled, the sets are checked and counted.
- "label-studio": people rank. The SFT policy samples K completions per prompt, which are pushed
  as tasks to a Label Studio project (pipelines/labelstudio.py); `rlhf label sync` (or this stage,
  when `label.label_studio.wait_timeout_s` lets it wait) pulls the finished rankings into the same
  record sets, one record per labeler, and reports the inter-annotator agreement.
"""

from __future__ import annotations

import grpc
import numpy as np
from tqdm import tqdm

from pipelines import labelstudio as ls
from pipelines.common import SeedUse, data_store, derive_seed, resolve_model
from rlhf.algos.reward import ranking_pairs
from rlhf.clients.base import ServiceError
from rlhf.clients.policy_inference import PolicyInferenceClient
from rlhf.config import Config, service_address
from rlhf.labelers import SimulatedLabeler
from rlhf.models import load_policy, load_tokenizer
from rlhf.models.scoring import instruction_ids


def comparison_sets(config: Config) -> dict[str, str]:
    """split -> comparison record set: the ones the label stage writes (simulated), or the imported
    ones the RM stage will read (import; no held-out set when rm.heldout_comparisons is "")."""
    if config.label.source in ("simulated", "label-studio"):
        return {split: f"{config.label.output}/{split}" for split in ("train", "heldout")}
    sets = {"train": config.rm.comparisons, "heldout": config.rm.heldout_comparisons}
    return {split: record_set for split, record_set in sets.items() if record_set}


def check_label_source(config: Config, store) -> None:
    """Fails before any model loads when the data cannot feed `label.source`: the simulated labeler
    needs constraints on every prompt it ranks; import needs the comparison sets in the store."""
    cfg = config.label
    if cfg.source == "label-studio":
        ls.LabelStudio.from_config(cfg.label_studio).check()  # the server and the token, before any model loads
        return
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


def label(config: Config) -> dict:
    """Writes (simulated) or checks (import) <output>/train and <output>/heldout; returns their
    sizes. Simulated: the SFT model (sft.output_dir) is pushed to policy-inference first, and its
    tokenizer formats the prompts. Label Studio: pushes the tasks (once per project), then waits and
    syncs if `wait_timeout_s` allows, else returns {}."""
    cfg = config.label
    sets = comparison_sets(config)
    with data_store(config) as store:
        check_label_source(config, store)
        if cfg.source == "import":
            sizes = {split: store.count_records(record_set) for split, record_set in sets.items()}
            print(f"label: using imported comparisons {sizes}", flush=True)
            return sizes
        if cfg.source == "label-studio":
            return label_in_label_studio(config, store)
        labeler = SimulatedLabeler(seed=cfg.seed, noise=cfg.noise)
        sizes = {}
        for split, samples in sample_completions(config, store).items():
            labelled = [labeler.label(record, texts) for record, texts in samples]
            comparisons = [record for record in labelled if record is not None]
            if not comparisons:
                raise ValueError(f"label: all {len(samples)} {split} prompts got {cfg.k} equally good completions; "
                                 "nothing to rank (raise label.k or label.num_prompts)")
            sizes[split] = store.put_records(sets[split], "comparisons", comparisons)
            pairs = len(ranking_pairs([c["ranking"] for c in comparisons]).winner)
            print(f"label[{split}]: {len(comparisons)} rankings with {pairs} of {len(samples) * cfg.k * (cfg.k - 1) // 2} "
                  "pairs preferred (the rest are ties, equally good by the labeler's rubric; "
                  f"{len(samples) - len(comparisons)} prompts had no preference at all)", flush=True)
    print(f"label: {sizes} comparison records of K={cfg.k}", flush=True)
    return sizes


def sample_completions(config: Config, store) -> dict[str, list[tuple[dict, list[str]]]]:
    """split -> (prompt record, its K completions) for label.num_prompts training and
    label.num_heldout held-out prompts, sampled from the SFT model."""
    cfg = config.label
    sft_dir = resolve_model(config.sft.output_dir)
    tokenizer = load_tokenizer(sft_dir)
    samples: dict[str, list[tuple[dict, list[str]]]] = {}
    with PolicyInferenceClient(service_address(config, "policy_inference"), config.clients) as policy:
        # Sample from exactly this SFT model, whatever the service was serving before (a long-lived
        # service may hold the last PPO policy of an earlier run).
        weights = load_policy(sft_dir).state_dict()
        policy.update_weights(weights)
        for split, record_set, count in (("train", cfg.prompts, cfg.num_prompts),
                                         ("heldout", cfg.heldout_prompts, cfg.num_heldout)):
            records = store.read_records(record_set)
            chosen = np.random.default_rng(cfg.seed).permutation(len(records))[:count]
            samples[split] = []
            # Prompts per request: their K completions fill one batch of the service.
            batch = max(1, config.services.policy_inference.max_batch_size // cfg.k)
            for start in tqdm(range(0, len(chosen), batch), desc=f"label[{split}]", unit="batch"):
                prompts = [records[i] for i in chosen[start:start + batch]]
                prompt_ids = instruction_ids(tokenizer, [r["prompt"] for r in prompts])
                gen = policy.generate_pinned(lambda: weights, prompt_ids=prompt_ids, n=cfg.k,
                                             max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                                             seed=derive_seed(cfg.seed, SeedUse.LABEL, split == "heldout", start))
                texts = gen.texts
                samples[split] += [(record, texts[i * cfg.k:(i + 1) * cfg.k]) for i, record in enumerate(prompts)]
    return samples


def label_in_label_studio(config: Config, store) -> dict:
    """Pushes the sampled completions as ranking tasks (only when the project is new: a rerun
    reuses what labelers already have), then waits and syncs when `wait_timeout_s` > 0."""
    cfg = config.label
    ls_cfg = cfg.label_studio
    client = ls.LabelStudio.from_config(ls_cfg)
    project = client.find_project(ls_cfg.project)
    if project is None or not client.project(project["id"]).get("task_number"):
        samples = sample_completions(config, store)
        rng = np.random.default_rng(derive_seed(cfg.seed, SeedUse.DISPLAY_ORDER))
        tasks = [ls.ranking_task(record["prompt"], texts, split, rng)
                 for split, pairs in samples.items() for record, texts in pairs]
        project = push_ranking_tasks(client, ls_cfg, cfg.k, tasks)
    else:
        print(f"label: reusing Label Studio project {ls_cfg.project!r} (id {project['id']}) at {client.url}",
              flush=True)
    if ls_cfg.wait_timeout_s <= 0:
        print("label: run `rlhf label sync` when the labelers are done (it may also be run before, for what "
              "is finished)", flush=True)
        return {}
    with tqdm(desc="label[label-studio]", unit="annotation") as bar:
        def progress(done: int, wanted: int) -> None:
            bar.total = wanted
            bar.n = done
            bar.refresh()

        done = ls.wait_for_annotations(client, project, ls_cfg.overlap, ls_cfg.wait_timeout_s,
                                       ls_cfg.poll_interval_s, progress)
    summary = write_synced(config, store, client, project)
    if "train" not in summary["sizes"]:
        # The RM comes next and would only find no set; say why here.
        raise ls.LabelStudioError(f"Label Studio at {client.url}: no training prompt of project {project['title']!r} "
                                  f"was ranked within label.label_studio.wait_timeout_s={ls_cfg.wait_timeout_s:g}s")
    if not done:
        print(f"label: waited {ls_cfg.wait_timeout_s:g}s; went on with the rankings finished by then", flush=True)
    return summary


def push_ranking_tasks(client: ls.LabelStudio, ls_cfg, k: int, tasks: list[dict]) -> dict:
    """Creates the project (or takes the empty one of that title) and imports the tasks."""
    project, _ = ls.ensure_project(client, ls_cfg.project, ls.ranking_interface(k), ls_cfg.overlap)
    count = client.import_tasks(project, tasks)
    print(f"label: pushed {count} ranking tasks (K={k}, {ls_cfg.overlap} labeler(s) each) to Label Studio project "
          f"{project['title']!r} at {client.url}/projects/{project['id']}", flush=True)
    return project


def sync(config: Config) -> dict:
    """`rlhf label sync`: the finished rankings of the Label Studio project into <output>/train and
    <output>/heldout; returns the sizes and the agreement."""
    ls_cfg = config.label.label_studio
    client = ls.LabelStudio.from_config(ls_cfg)
    project = client.find_project(ls_cfg.project)
    if project is None:
        raise ls.LabelStudioError(f"Label Studio at {client.url}: no project {ls_cfg.project!r} (run `rlhf label` "
                                  "with label.source=label-studio first)")
    with data_store(config) as store:
        return write_synced(config, store, client, project)


def write_synced(config: Config, store, client: ls.LabelStudio, project: dict) -> dict:
    """Fetches and checks every annotation first; only then stores the record sets (a split with no
    rankings yet is left as it is)."""
    cfg = config.label
    synced = ls.collect_rankings(client, project, cfg.label_studio.holdout_labelers)
    sets = comparison_sets(config)
    sizes = {split: store.put_records(sets[split], "comparisons", records)
             for split, records in synced.records.items() if records}
    agreement = synced.agreement
    shown = "n/a (no task has two labelers)" if agreement["agreement"] is None else \
        f"{agreement['agreement']:.1%} over {agreement['compared_pairs']} completion pairs"
    print(f"label: synced {sum(sizes.values())} rankings of {synced.annotated_tasks}/{synced.tasks} tasks from "
          f"project {project['title']!r} into {sizes}; {synced.skipped} skipped (cancelled or unranked); "
          f"inter-annotator agreement {shown}", flush=True)
    return {"sizes": sizes, "tasks": synced.tasks, "annotated_tasks": synced.annotated_tasks,
            "skipped": synced.skipped, **agreement}
