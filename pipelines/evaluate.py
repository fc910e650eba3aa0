"""`rlhf eval`: the InstructGPT-style comparison of SFT, PPO and PPO-ptx.

Per policy, on held-out prompts: win rate against SFT as judged by the labeler (95% Wilson
interval), constraint satisfaction, mean RM score, KL to SFT; plus the RM's held-out accuracy and
the alignment tax (perplexity on held-out general text). Writes report.md, metrics.json and plots.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pipelines.common import all_records, data_store, metrics_path, read_jsonl, resolve_model, wins_against
from rlhf.algos.ppo import ptx_loss
from rlhf.clients.policy_inference import PolicyInferenceClient
from rlhf.clients.reference_kl import ReferenceKLClient
from rlhf.clients.reward_scoring import RewardScoringClient
from rlhf.config import Config, service_address
from rlhf.labelers import SimulatedLabeler, satisfaction
from rlhf.models import load_policy, load_tokenizer
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


def evaluate(config: Config) -> dict:
    cfg = config.eval
    reference_dir = resolve_model(cfg.reference_model)
    tokenizer = load_tokenizer(reference_dir)
    labeler = SimulatedLabeler(seed=cfg.seed)
    policies = {"SFT": str(reference_dir), **cfg.policies}
    with data_store(config) as store:
        prompts = all_records(store, cfg.prompts)[:cfg.max_prompts]
        general = [r["text"] for r in all_records(store, cfg.general_heldout)[:cfg.max_general]]
    prompt_ids = instruction_ids(tokenizer, [r["prompt"] for r in prompts])

    results: dict[str, dict] = {}
    samples: dict[str, list[str]] = {}
    with PolicyInferenceClient(service_address(config, "policy_inference"), config.clients) as policy_client, \
            RewardScoringClient(service_address(config, "reward_scoring"), config.clients) as reward_client, \
            ReferenceKLClient(service_address(config, "reference_kl"), config.clients) as reference_client:
        for name, model_dir in tqdm(policies.items(), desc="eval", unit="policy"):
            model = load_policy(resolve_model(model_dir))
            policy_client.update_weights(model.state_dict())
            gen = policy_client.generate_pinned(model.state_dict, prompt_ids=prompt_ids,
                                                max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                                                seed=cfg.seed)
            completions = [c.tolist() for c in gen.completion_ids]
            texts = gen.texts
            scores = reward_client.score([r["prompt"] for r in prompts], texts)
            kl = reference_client.logprobs([p + c for p, c in zip(prompt_ids, completions)],
                                           [len(p) for p in prompt_ids], policy_logprobs=gen.logprobs)
            sat = [satisfaction(r["constraints"], t) for r, t in zip(prompts, texts)]
            samples[name] = texts
            results[name] = {
                "reward_mean": float(np.mean(scores)), "kl_to_sft": float(kl.mean_kl),
                "constraint_satisfaction": float(np.mean(sat)),
                "all_constraints_met": float(np.mean([s == 1.0 for s in sat])),
                "perplexity": perplexity(model, tokenizer, general) if general else float("nan"),
                "response_words": float(np.mean([len(t.split()) for t in texts])),
            }
            del model

    for name, texts in samples.items():
        if name == "SFT":
            wins = len(prompts) / 2  # SFT against itself: 50% by definition
        else:
            wins = sum(wins_against(labeler, prompts, texts, samples["SFT"]))
        low, high = wilson_interval(wins, len(prompts))
        results[name].update(win_rate=wins / len(prompts), win_rate_low=low, win_rate_high=high)

    rm_summary = read_rm_summary(cfg.rm_summary)
    report = {"policies": results, "rm_heldout_accuracy": rm_summary.get("heldout_accuracy"),
              "heldout_prompts": len(prompts), "general_texts": len(general),
              "examples": [{"prompt": prompts[i]["prompt"], **{n: samples[n][i] for n in samples}}
                           for i in range(min(3, len(prompts)))]}
    out = Path(cfg.report_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=2))
    histories = {name: training_history(d) for name, d in cfg.policies.items()}
    plots = write_plots(out, histories)
    (out / "report.md").write_text(render_report(report, plots))
    print(f"eval: wrote {out / 'report.md'}", flush=True)
    if cfg.report_uri:
        for name in ["report.md", "metrics.json", *plots]:
            write_uri(f"{cfg.report_uri.rstrip('/')}/{name}", (out / name).read_bytes())
        print(f"eval: uploaded the report to {cfg.report_uri}", flush=True)
    return report


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

    names = []
    for key, title in (("reward_mean", "mean RM score"), ("kl", "KL to SFT (nats / sequence)"),
                       ("win_rate", "held-out win rate vs SFT")):
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for run, rows in histories.items():
            points = [(r["step"], r[key]) for r in rows if key in r]
            if points:
                ax.plot(*zip(*points), marker="o", label=run)
        ax.set_xlabel("PPO step")
        ax.set_title(title)
        if key == "win_rate":
            ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.legend()
        fig.tight_layout()
        name = f"{key}.png"
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        names.append(name)
    return names


def render_report(report: dict, plots: list[str]) -> str:
    acc = report["rm_heldout_accuracy"]
    lines = [
        "# rlhf-stack evaluation", "",
        f"{report['heldout_prompts']} held-out prompts; win rate judged by the simulated labeler against the SFT "
        f"policy's completion for the same prompt (95% Wilson interval); KL estimated on the same samples; "
        f"perplexity on {report['general_texts']} held-out general texts (the alignment tax).", "",
        "| policy | win rate vs SFT | constraint satisfaction | all constraints met | mean RM score | KL to SFT | perplexity |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in report["policies"].items():
        lines.append(f"| {name} | {r['win_rate']:.1%} [{r['win_rate_low']:.1%}, {r['win_rate_high']:.1%}] | "
                     f"{r['constraint_satisfaction']:.1%} | {r['all_constraints_met']:.1%} | {r['reward_mean']:.3f} | "
                     f"{r['kl_to_sft']:.3f} | {r['perplexity']:.2f} |")
    lines += ["", f"Reward model held-out accuracy: {acc:.1%}" if acc is not None else "Reward model held-out accuracy: n/a",
              "", *[f"![{p}]({p})" for p in plots], "", "## Examples", ""]
    for example in report["examples"]:
        lines.append(f"**Prompt:** {example['prompt']}")
        lines += [f"- *{name}:* {text.strip()!r}" for name, text in example.items() if name != "prompt"]
        lines.append("")
    return "\n".join(lines)
