"""`rlhf eval`: the InstructGPT-style comparison of SFT, PPO and PPO-ptx.

Per policy, on held-out prompts, eval.samples_per_prompt completions each at eval.temperature: win
rate against SFT (95% Wilson interval over prompts, ties counted as half) as judged by the simulated
labeler where a prompt has constraints and by the reward model where it has none, constraint
satisfaction (prompts with constraints), the share of answers that say something (words the prompt
lacks) and their length, mean RM score; KL to SFT on temperature-1 samples (SFT's own is 0 by
definition, not sampled); plus the RM's held-out accuracy and the alignment tax (perplexity on
held-out general text). Writes report.md (headed by the run's identity: run, base
model, data, seeds, config hash, judge), metrics.json, samples.jsonl (every judged answer with its
RM score and verdict) and plots. With `eval.human: label-studio`, people judge too: blind pairs (policy vs
SFT, sides at random, one pair per prompt) go to Label Studio, and their answers become a human win
rate next to the automatic one.
"""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import torch
from safetensors.torch import load_file
from tqdm import tqdm

from pipelines import labelstudio as ls
from pipelines.common import (config_hash, data_store, describe_judges, judge, metrics_path, read_jsonl,
                              resolve_model)
from rlhf.algos.ppo import ptx_loss
from rlhf.clients.base import ServiceError
from rlhf.clients.policy_inference import Generation, PolicyInferenceClient
from rlhf.clients.reference_kl import ReferenceKLClient
from rlhf.clients.reward_scoring import RewardScoringClient
from rlhf.config import Config, service_address
from rlhf.device import device
from rlhf.data.constraints import words
from rlhf.labelers import MIN_NEW_WORDS, SimulatedLabeler, check, satisfaction, says_something
from rlhf.models import load_policy, load_tokenizer, lora, weights_revision
from rlhf.models.scoring import instruction_ids, padded_completion_logprobs
from rlhf.storage import read_uri, write_uri
from rlhf.storage.dirs import is_uri


def wilson_interval(wins: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (ties counted as half a win)."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = wins / n
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (center - half, center + half)


def win_summary(outcomes: list[float], samples_per_prompt: int) -> dict:
    """Win rate, its 95% Wilson interval and the ties, from `outcomes` (1 a win, 0.5 a tie, 0 a loss)
    of `samples_per_prompt` pairs per prompt, prompt-major. A prompt counts once, with its share of
    wins: its samples share the prompt, so the interval is over prompts, not pairs. Such a share in
    [0, 1] with mean p has at most the Bernoulli variance p(1 - p), so the interval is conservative."""
    per_prompt = np.asarray(outcomes, dtype=np.float64).reshape(-1, samples_per_prompt).mean(axis=1)
    wins, prompts = float(per_prompt.sum()), len(per_prompt)
    low, high = wilson_interval(wins, prompts)
    return {"win_rate": wins / prompts if prompts else float("nan"), "win_rate_low": low, "win_rate_high": high,
            "ties": sum(o == 0.5 for o in outcomes)}


def perplexity(model, tokenizer, texts: list[str], max_length: int = 256, batch: int = 8) -> float:
    """exp(mean next-token NLL) over every token after the first of each text: the PPO-ptx loss,
    computed by the trainer's own code (a 1-token "prompt" and the rest as the completion)."""
    total_nll = total_tokens = 0.0
    with torch.no_grad():
        for start in range(0, len(texts), batch):
            ids = [tokenizer(t, add_special_tokens=False).input_ids[:max_length] for t in texts[start:start + batch]]
            ids = [s for s in ids if len(s) > 1]
            if not ids:
                continue
            logprobs, mask = padded_completion_logprobs(model, ids, [1] * len(ids))
            tokens = mask.sum().item()
            total_nll += ptx_loss(logprobs, mask).item() * tokens
            total_tokens += tokens
    return math.exp(total_nll / max(total_tokens, 1))


def sampled_kl(reference_client: ReferenceKLClient, prompt_ids: list[list[int]], gen: Generation) -> float:
    """Mean over prompts of sum_t log pi(y_t | ..) - log pi_ref(y_t | ..): KL(pi || pi_ref) per
    sequence, estimated on `gen`, which must hold the policy's own samples (temperature 1: samples
    from a sharpened distribution bias the estimate)."""
    completions = [c.tolist() for c in gen.completion_ids]
    kl = reference_client.logprobs([p + c for p, c in zip(prompt_ids, completions)], [len(p) for p in prompt_ids],
                                   policy_logprobs=gen.logprobs)
    return float(kl.mean_kl)


def merged_adapter(model: torch.nn.Module, model_dir: str | os.PathLike, base: torch.nn.Module) -> Path | None:
    """`model_dir`/adapter when `model` is `base` with that LoRA adapter merged (a PPO run's output
    with `ppo.lora`), so that pushing the adapter onto `base` serves `model`; else None."""
    adapter = Path(model_dir) / "adapter"
    if not (adapter / "adapter_config.json").exists():
        return None
    rank, scale = lora.scale_of((adapter / "adapter_config.json").read_text())
    state, base_state = model.state_dict(), base.state_dict()
    if state.keys() != base_state.keys():
        return None
    pairs = lora.check_adapter(load_file(adapter / "adapter_model.safetensors"), base_state, rank)
    for name, tensor in state.items():
        expected = lora.merge_weight(base_state[name], *pairs[name], scale) if name in pairs else base_state[name]
        if not torch.allclose(tensor, expected.to(tensor.device), rtol=0, atol=1e-6):
            return None
    return adapter


def push_policy(client: PolicyInferenceClient, model: torch.nn.Module, model_dir: str | os.PathLike,
                base: torch.nn.Module | None = None, base_revision: str = "") -> str:
    """Installs `model` (loaded from `model_dir`) on policy-inference. When it is `base` (of
    `weights_revision` `base_revision`, pushed before) with a LoRA adapter merged, only the adapter
    goes (a few MB instead of the whole policy); the service applies it to the base it holds, or
    refuses it when that base has another revision, and then the policy goes whole. Returns
    "adapter" or "whole"."""
    adapter = merged_adapter(model, model_dir, base) if base is not None else None
    if adapter is not None:
        try:
            client.update_weights(adapter / "adapter_model.safetensors",
                                  adapter_config=(adapter / "adapter_config.json").read_text(),
                                  base_revision=base_revision)
            return "adapter"
        except ServiceError as exc:
            if not (exc.code == grpc.StatusCode.FAILED_PRECONDITION and "header.base_revision" in exc.details):
                raise
    client.update_weights(model.state_dict())
    return "whole"


def evaluate(config: Config) -> dict:
    cfg = config.eval
    reference_dir = resolve_model(cfg.reference_model)
    tokenizer = load_tokenizer(reference_dir)
    policies = {"SFT": str(reference_dir), **cfg.policies}
    human = ls.LabelStudio.from_config(config.label.label_studio) if cfg.human == "label-studio" else None
    if human:
        human.check()  # the server and the token, before any model loads
    with data_store(config) as store:
        prompts = store.read_records(cfg.prompts)[:cfg.max_prompts]
        general = [r["text"] for r in store.read_records(cfg.general_heldout)[:cfg.max_general]]
    prompt_ids = instruction_ids(tokenizer, [r["prompt"] for r in prompts])
    n = cfg.samples_per_prompt
    # One entry per sample, prompt-major like a Generation's completions.
    judged = [r for r in prompts for _ in range(n)]
    judged_ids = [ids for ids in prompt_ids for _ in range(n)]

    constrained = [i for i, r in enumerate(judged) if SimulatedLabeler.can_judge(r)]
    results: dict[str, dict] = {}
    samples: dict[str, list[str]] = {}
    rewards: dict[str, list[float]] = {}
    with PolicyInferenceClient(service_address(config, "policy_inference"), config.clients) as policy_client, \
            RewardScoringClient(service_address(config, "reward_scoring"), config.clients) as reward_client, \
            ReferenceKLClient(service_address(config, "reference_kl"), config.clients) as reference_client, \
            ThreadPoolExecutor(3) as pool:
        sft, sft_revision = None, ""
        for name, model_dir in tqdm(policies.items(), desc="eval", unit="policy"):
            model_dir = resolve_model(model_dir)
            model = load_policy(model_dir).to(device())  # perplexity runs here
            push_policy(policy_client, model, model_dir, sft, sft_revision)
            if name == "SFT":  # pushed whole: the base of the PPO policies' LoRA adapters
                sft, sft_revision = model, weights_revision(model)
            # This process waits while the services generate and score: compute the perplexity meanwhile.
            general_ppl = pool.submit(perplexity, model, tokenizer, general) if general else None
            gen = policy_client.generate_pinned(model.state_dict, prompt_ids=prompt_ids,
                                                max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                                                n=n, seed=cfg.seed)
            texts = gen.texts
            is_reference = name == "SFT"  # KL 0 by definition: no temperature-1 samples, no LogProbs
            if cfg.temperature != 1.0 and not is_reference:
                gen = policy_client.generate_pinned(model.state_dict, prompt_ids=prompt_ids,
                                                    max_new_tokens=cfg.max_new_tokens, temperature=1.0, n=n,
                                                    seed=cfg.seed)
            # Score and LogProbs at the same time, as PPO calls them: on one machine each service
            # computes on one thread, so one after the other would leave a core idle.
            scores = pool.submit(reward_client.score, [r["prompt"] for r in judged], texts)
            kl = None if is_reference else pool.submit(sampled_kl, reference_client, judged_ids, gen)
            scores, kl = scores.result(), 0.0 if kl is None else kl.result()
            sat = [satisfaction(judged[i]["constraints"], texts[i]) for i in constrained]
            met_by_type: dict[str, list[bool]] = {}
            for i in constrained:
                for constraint in judged[i]["constraints"]:
                    met_by_type.setdefault(constraint["type"], []).append(check(constraint, texts[i]))
            samples[name], rewards[name] = texts, scores
            results[name] = {
                "reward_mean": float(np.mean(scores)), "kl_to_sft": kl,
                "constraint_satisfaction": float(np.mean(sat)) if sat else None,
                "all_constraints_met": float(np.mean([s == 1.0 for s in sat])) if sat else None,
                "satisfaction_by_type": {kind: float(np.mean(met)) for kind, met in sorted(met_by_type.items())},
                "perplexity": general_ppl.result() if general_ppl else float("nan"),
                "says_something": float(np.mean([says_something(record["prompt"], text)
                                                 for record, text in zip(judged, texts)])),
                "response_words": float(np.mean([len(words(text)) for text in texts])),
            }
            del model

    judges: list[str] = []
    outcomes: dict[str, list[float]] = {}
    for name, texts in samples.items():
        outcomes[name], judges = judge(judged, texts, samples["SFT"], (rewards[name], rewards["SFT"]))
        # SFT against itself: 50% by definition (its samples equal, every pair a tie).
        results[name].update(win_summary(outcomes[name], n))

    if human:
        first_samples = {name: texts[::n] for name, texts in samples.items()}  # people judge one pair per prompt
        for name, counts in human_eval(config, human, [r["prompt"] for r in prompts], first_samples).items():
            results[name].update(counts)

    rm_summary = read_rm_summary(cfg.rm_summary)
    report = {"run": run_identity(config, describe_judges(judges[::n])),  # who judged each prompt
              "policies": results, "rm_heldout_accuracy": rm_summary.get("heldout_accuracy"),
              "heldout_prompts": len(prompts), "constrained_prompts": len(constrained) // n,
              "general_texts": len(general),
              "examples": [{"prompt": prompts[i]["prompt"], **{name: samples[name][i * n] for name in samples}}
                           for i in range(min(3, len(prompts)))]}
    out = Path(cfg.report_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=2))
    # Every judged answer, to read why a policy won or lost (metrics.json keeps three examples).
    (out / "samples.jsonl").write_text("".join(json.dumps({
        "prompt": record["prompt"], "constraints": record.get("constraints", []), "sample": i % n,
        "completions": {name: samples[name][i] for name in samples},
        "rm_scores": {name: rewards[name][i] for name in samples},
        "outcome_vs_sft": {name: outcomes[name][i] for name in samples if name != "SFT"}},
        ensure_ascii=False) + "\n" for i, record in enumerate(judged)))
    histories = {name: training_history(d) for name, d in cfg.policies.items()}
    plots = write_plots(out, histories)
    (out / "report.md").write_text(render_report(report, plots))
    print(f"eval: wrote {out / 'report.md'}", flush=True)
    if cfg.report_uri:
        for name in ["report.md", "metrics.json", "samples.jsonl", *plots]:
            write_uri(f"{cfg.report_uri.rstrip('/')}/{name}", (out / name).read_bytes())
        print(f"eval: uploaded the report to {cfg.report_uri}", flush=True)
    return report


def human_eval(config: Config, client: ls.LabelStudio, prompts: list[str], samples: dict[str, list[str]]) -> dict:
    """policy -> human win rate vs SFT with its interval and number of judgments: pushes the blind
    pairs once (key in <report_dir>/human_eval_key.json), waits up to `wait_timeout_s`, then counts
    the answers given so far."""
    ls_cfg = config.label.label_studio
    others = {name: texts for name, texts in samples.items() if name != "SFT"}
    project, key = ls.push_blind_pairs(client, ls_cfg, prompts, samples["SFT"], others, config.eval.seed,
                                       Path(config.eval.report_dir) / "human_eval_key.json")
    if ls_cfg.wait_timeout_s > 0:
        ls.wait_for_annotations(client, project, ls_cfg.overlap, ls_cfg.wait_timeout_s, ls_cfg.poll_interval_s)
    return {name: human_summary(counts) for name, counts in ls.human_win_rates(client, project, key).items()}


def human_summary(counts: dict) -> dict:
    """Win rate (ties half) and its 95% Wilson interval over the judgments; None before any."""
    n = counts["judgments"]
    low, high = wilson_interval(counts["wins"], n)
    return {"human_win_rate": counts["wins"] / n if n else None, "human_win_rate_low": low if n else None,
            "human_win_rate_high": high if n else None, "human_judgments": n}


def run_identity(config: Config, judged_by: str) -> dict:
    """What the report's header names: the run, base model, data, each stage's seed, config hash and judge."""
    return {"run_id": config.run.run_id or Path(config.eval.report_dir).name, "base_model": config.sft.base_model,
            "data": dict(config.run.data), "prompts": config.eval.prompts, "temperature": config.eval.temperature,
            "samples_per_prompt": config.eval.samples_per_prompt,
            "seeds": {stage: getattr(config, stage).seed for stage in ("sft", "label", "rm", "ppo", "eval")},
            "config_hash": config_hash(config), "judge": judged_by}


def read_rm_summary(where: str) -> dict:
    """The RM stage's summary from a path or a store URI; {} when there is none."""
    if is_uri(where):
        try:
            return json.loads(read_uri(where))
        except FileNotFoundError:
            return {}
    return json.loads(Path(where).read_text()) if Path(where).exists() else {}


def training_history(model: str) -> list[dict]:
    """A PPO run's per-step metrics: next to its directory, or inside it when it came from the store."""
    if is_uri(model):
        return read_jsonl(resolve_model(model) / "training_metrics.jsonl")
    return read_jsonl(metrics_path(model))


def write_plots(out: Path, histories: dict[str, list[dict]]) -> list[str]:
    """reward_mean.png, kl.png, win_rate.png over PPO steps, one line per PPO run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    names = []
    for key, title in (("reward_mean", "mean RM score"), ("kl", "KL to SFT (nats / sequence)"),
                       ("win_rate", "held-out win rate vs SFT")):
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for run, rows in histories.items():
            points = [(r["step"], r[key]) for r in rows if key in r]
            if points:
                ax.plot(*zip(*points), marker="o", label=run)
        ax.set_xlabel("PPO step")
        ax.set_ylabel(title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{title} over PPO steps")
        if key == "win_rate":
            ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.legend()
        fig.tight_layout()
        name = f"{key}.png"
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        names.append(name)
    return names


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def render_report(report: dict, plots: list[str]) -> str:
    acc, run = report["rm_heldout_accuracy"], report["run"]
    samples = run["samples_per_prompt"]
    sampled = "one completion per policy" if samples == 1 else \
        f"{samples} completions per prompt and policy (sample j against SFT's sample j; a prompt counts once, " \
        "with its share of wins; ties counts pairs)"
    data = ", ".join(f"{name} = {source}" for name, source in run["data"].items())
    seeds = ", ".join(f"{stage} {seed}" for stage, seed in run["seeds"].items())
    lines = [
        "# rlhf-stack evaluation", "",
        f"Run `{run['run_id']}`: base model `{run['base_model']}`, config `{run['config_hash']}` (sha256 of the "
        f"run's settings), data: {data}; seeds: {seeds}.", "",
        f"{report['heldout_prompts']} held-out prompts (`{run['prompts']}`), {sampled}, sampled at temperature "
        f"{run['temperature']:g}; win rate judged by the {run['judge']} against the SFT policy's completion for the "
        f"same prompt, ties counted as half (95% Wilson interval over the prompts); "
        + (f"constraint satisfaction over the {report['constrained_prompts']} prompts with constraints; "
           if report["constrained_prompts"] else "no prompt has constraints to check; ")
        + ("KL estimated on the same samples" if run["temperature"] == 1.0 else
           "KL estimated on a second sample at temperature 1 (the policy's own distribution)")
        + " (SFT's own is 0 by definition); "
        + f"perplexity on {report['general_texts']} held-out general texts "
        f"(the alignment tax); an answer says something when it has {MIN_NEW_WORDS} words the prompt lacks "
        "(not the quoted phrase or the instruction read back).", "",
        "| policy | win rate vs SFT | ties | constraint satisfaction | all constraints met | says something | words | "
        "mean RM score | KL to SFT | perplexity |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in report["policies"].items():
        lines.append(f"| {name} | {r['win_rate']:.1%} [{r['win_rate_low']:.1%}, {r['win_rate_high']:.1%}] | {r['ties']} | "
                     f"{_percent(r['constraint_satisfaction'])} | {_percent(r['all_constraints_met'])} | "
                     f"{_percent(r.get('says_something'))} | {r.get('response_words', float('nan')):.1f} | "
                     f"{r['reward_mean']:.3f} | {r['kl_to_sft']:.3f} | {r['perplexity']:.2f} |")
    judged = {name: r for name, r in report["policies"].items() if "human_judgments" in r}
    if judged:
        lines += ["", "Human win rate vs SFT: labelers in Label Studio judged blind pairs (the policy's and the SFT "
                  "completion of the same held-out prompt, sides at random), ties counted as half (95% Wilson "
                  "interval):", "", "| policy | human win rate vs SFT | judgments | automatic judge |",
                  "|---|---|---|---|"]
        for name, r in judged.items():
            rate = "n/a" if r["human_win_rate"] is None else \
                f"{r['human_win_rate']:.1%} [{r['human_win_rate_low']:.1%}, {r['human_win_rate_high']:.1%}]"
            lines.append(f"| {name} | {rate} | {r['human_judgments']} | {r['win_rate']:.1%} |")
    types = sorted({kind for r in report["policies"].values() for kind in r["satisfaction_by_type"]})
    if types:
        lines += ["", "Constraint satisfaction by type (share of the held-out constraints of that type met):", "",
                  "| policy | " + " | ".join(types) + " |", "|---" * (len(types) + 1) + "|"]
        lines += [f"| {name} | " + " | ".join(_percent(r["satisfaction_by_type"].get(kind)) for kind in types) + " |"
                  for name, r in report["policies"].items()]
    lines += ["", f"Reward model held-out accuracy: {_percent(acc)} (share of the held-out comparisons' preferred "
                  "pairs it orders like the labeler; tied completions form no pair)",
              "", *[f"![{p}]({p})" for p in plots], "", "## Examples", ""]
    for example in report["examples"]:
        lines.append(f"**Prompt:** {example['prompt']}")
        lines += [f"- *{name}:* {text.strip()!r}" for name, text in example.items() if name != "prompt"]
        lines.append("")
    return "\n".join(lines)
