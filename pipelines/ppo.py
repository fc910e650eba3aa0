"""`rlhf train ppo`: PPO (and PPO-ptx) against the reward model, through the four services.

One rollout step: sample prompts (data-store) -> Generate (policy-inference) -> Score and LogProbs
concurrently (reward-scoring, reference-kl) -> own forward for old log-probs and values -> per-token
KL rewards, GAE, whitening -> PPO epochs over minibatches (+ ptx rows) -> rank 0 pushes weights.
Runs alone or under torchrun (RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT): DDP with gloo on CPU
and nccl on GPU, prompts sharded by rank, only rank 0 pushes weights and writes checkpoints.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from pipelines.common import (MetricsLog, all_records, autocast, data_store, metrics_path, publish, resolve_model,
                              seed_everything, wins_against)
from rlhf.algos import ppo as algo
from rlhf.clients.base import ServiceError
from rlhf.clients.policy_inference import Generation, PolicyInferenceClient
from rlhf.clients.reference_kl import ReferenceKLClient
from rlhf.clients.reward_scoring import RewardScoringClient
from rlhf.config import Config, service_address
from rlhf.labelers import SimulatedLabeler
from rlhf.models import (load_policy, load_reward_model, load_tokenizer, token_scores,
                         tokenizer_fingerprint, weights_revision)
from rlhf.models.loading import save_model
from rlhf.models.scoring import instruction_ids, left_pad, padded_completion_logprobs


REPUSHES = 2
"""Times a step re-pushes the policy and samples again when policy-inference answers another version."""


@dataclass
class Rollouts:
    """Prompt + completion token ids. Tensors over completions use the layout of rlhf.models.scoring
    (the same code computes the reference log-probs): sequences left-padded, so completions end at
    the right edge, and per-token tensors (B, C) hold row i's completion in its last columns."""

    sequences: list[list[int]]
    prompt_lengths: list[int]

    @classmethod
    def build(cls, prompts: list[list[int]], completions: list[list[int]]) -> "Rollouts":
        return cls([list(p) + list(c) for p, c in zip(prompts, completions)], [len(p) for p in prompts])

    @property
    def width(self) -> int:
        """C: the longest completion."""
        return max(len(s) - p for s, p in zip(self.sequences, self.prompt_lengths))

    def mask(self) -> torch.Tensor:
        lengths = torch.tensor([len(s) - p for s, p in zip(self.sequences, self.prompt_lengths)])
        return (torch.arange(self.width)[None, :] >= self.width - lengths[:, None]).float()

    def rows(self, idx: list[int]) -> "Rollouts":
        return Rollouts([self.sequences[i] for i in idx], [self.prompt_lengths[i] for i in idx])

    def __add__(self, other: "Rollouts") -> "Rollouts":
        return Rollouts(self.sequences + other.sequences, self.prompt_lengths + other.prompt_lengths)


def right_align(x: torch.Tensor | list, width: int) -> torch.Tensor:
    """(B, width): rows (a tensor, or 1-D arrays) ending at the right edge, zero-filled on the left."""
    if isinstance(x, list):
        x = torch.stack([torch.nn.functional.pad(torch.tensor(a, dtype=torch.float32), (width - len(a), 0))
                         for a in x])
    return x[:, -width:] if x.shape[1] >= width else torch.nn.functional.pad(x, (width - x.shape[1], 0))


class CompletionLogprobs(torch.nn.Module):
    """log pi of the completion tokens (B, C), as the reference-kl service computes them (the LM head
    runs only where completions are). A module so DDP sees, and syncs, this forward."""

    def __init__(self, policy: torch.nn.Module):
        super().__init__()
        self.policy = policy

    def forward(self, rollouts: Rollouts) -> torch.Tensor:
        return padded_completion_logprobs(self.policy, rollouts.sequences, rollouts.prompt_lengths)[0]


class CompletionValues(torch.nn.Module):
    """V(state before each completion token) (B, C): the value model's scalar head at the position
    that predicts the token. A module so DDP sees, and syncs, this forward."""

    def __init__(self, model: torch.nn.Module, pad_token_id: int):
        super().__init__()
        self.model = model
        self.pad_token_id = pad_token_id

    def forward(self, rollouts: Rollouts) -> torch.Tensor:
        input_ids, attention_mask = left_pad(rollouts.sequences, self.pad_token_id, self.model.device)
        end, width = input_ids.shape[1], rollouts.width
        return token_scores(self.model, input_ids, attention_mask)[:, end - width - 1:end - 1].float()


def distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun / PyTorchJob."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def all_mean(value: float, world: int) -> float:
    if world == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor)
    return tensor.item() / world


class Trainer:
    def __init__(self, config: Config):
        self.config = config
        self.cfg = cfg = config.ppo
        self.rank, self.world = distributed()
        if cfg.push_dtype not in ("bfloat16", "float32"):
            raise ValueError(f"ppo.push_dtype: {cfg.push_dtype!r} is not bfloat16 or float32")
        if cfg.prompts_per_step % self.world:
            raise ValueError(f"ppo.prompts_per_step={cfg.prompts_per_step} must divide evenly across "
                             f"{self.world} workers")
        seed_everything(cfg.seed + self.rank)
        init = resolve_model(cfg.init_model)
        self.tokenizer = load_tokenizer(init)
        self.policy = load_policy(init).train()
        self.value_model = load_reward_model(resolve_model(cfg.value_model)).train()
        self.logprobs = CompletionLogprobs(self.policy)
        self.values = CompletionValues(self.value_model, self.tokenizer.pad_token_id)
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.policy_ddp, self.value_ddp = DDP(self.logprobs), DDP(self.values)
        else:
            self.policy_ddp, self.value_ddp = self.logprobs, self.values
        self.policy_opt = torch.optim.AdamW(self.policy.parameters(), lr=cfg.learning_rate, weight_decay=0.0)
        self.value_opt = torch.optim.AdamW(self.value_model.parameters(), lr=cfg.value_learning_rate,
                                           weight_decay=0.0)
        self.kl_ctl = (algo.AdaptiveKLController(cfg.kl_coef, cfg.kl_target, cfg.kl_horizon) if cfg.adaptive_kl
                       else algo.FixedKLController(cfg.kl_coef))
        self.store = data_store(config)
        self.policy_client = PolicyInferenceClient(service_address(config, "policy_inference"), config.clients)
        self.reward_client = RewardScoringClient(service_address(config, "reward_scoring"), config.clients)
        self.reference_client = ReferenceKLClient(service_address(config, "reference_kl"), config.clients)
        self.version = 0  # the policy version this trainer pushed last (every rank knows it)
        self.step = 0
        self.cursor = 0
        self.ptx_cursor = 0
        self.sft_texts: list[str] | None = None  # held-out SFT completions the win rate compares with
        self.output = Path(cfg.output_dir)
        registry = None
        if self.rank == 0 and cfg.metrics_port >= 0:
            import prometheus_client as prom

            registry = prom.CollectorRegistry()
            prom.start_http_server(cfg.metrics_port, registry=registry)
        self.log = MetricsLog(metrics_path(self.output), "ppo", registry)
        self.checkpoint_prefix = f"checkpoints/{cfg.run_name}"

    # ---- services -------------------------------------------------------------------------------
    def check_tokenizers(self) -> None:
        """Refuse to start when the services tokenize differently from the trainer."""
        mine = tokenizer_fingerprint(self.tokenizer)
        for name, client in (("policy-inference", self.policy_client), ("reference-kl", self.reference_client)):
            theirs = client.info().tokenizer_fingerprint
            if theirs != mine:
                raise RuntimeError(f"{name} serves a model with another tokenizer ({theirs[:12]} != {mine[:12]}); "
                                   "point it at the SFT model the trainer starts from")

    def push_weights(self) -> int:
        """Rank 0 streams the policy to policy-inference; everyone waits for the version it installed
        (a broadcast), so the next rollout uses it and every rank can check it."""
        version = 0
        if self.rank == 0:
            version = self.policy_client.update_weights(self.policy.state_dict(), dtype=self.cfg.push_dtype)
        if self.world > 1:
            shared = torch.tensor([version], dtype=torch.int64)
            dist.broadcast(shared, 0)
            version = int(shared.item())
        self.version = version
        return version

    # ---- checkpoints ----------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        if self.rank == 0:
            state = {
                "step": self.step, "cursor": self.cursor, "ptx_cursor": self.ptx_cursor,
                "policy": self.policy.state_dict(), "value": self.value_model.state_dict(),
                "policy_opt": self.policy_opt.state_dict(), "value_opt": self.value_opt.state_dict(),
                "kl_ctl": self.kl_ctl.state_dict(), "sft_texts": self.sft_texts,
                "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
            }
            key = f"{self.checkpoint_prefix}/step-{self.step:06d}.pt"
            # Through a temp file the client streams from: a checkpoint (both models, both optimizers)
            # is several GB, and a bytes copy would double it in memory.
            with tempfile.TemporaryDirectory() as tmp:
                torch.save(state, Path(tmp) / "checkpoint.pt")
                info = self.store.put(key, Path(tmp) / "checkpoint.pt")
            # The pointer is written last: a crash before it leaves the previous checkpoint current.
            self.store.put(f"{self.checkpoint_prefix}/latest.json",
                           json.dumps({"step": self.step, "key": key, "sha256": info.sha256}).encode())
            saved = sorted(o.key for o in self.store.list(f"{self.checkpoint_prefix}/step-"))
            for stale in saved[:-max(1, self.cfg.keep_checkpoints)]:
                self.store.delete(stale)
        if self.world > 1:
            dist.barrier()

    def load_checkpoint(self) -> bool:
        try:
            pointer = json.loads(self.store.get(f"{self.checkpoint_prefix}/latest.json"))
        except ServiceError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND:  # no checkpoint yet
                return False
            raise
        with tempfile.TemporaryDirectory() as tmp:
            self.store.get_to_file(pointer["key"], Path(tmp) / "checkpoint.pt")
            state = torch.load(Path(tmp) / "checkpoint.pt", weights_only=False)
        self.policy.load_state_dict(state["policy"])
        self.value_model.load_state_dict(state["value"])
        self.policy_opt.load_state_dict(state["policy_opt"])
        self.value_opt.load_state_dict(state["value_opt"])
        self.kl_ctl.load_state_dict(state["kl_ctl"])
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        self.step, self.cursor, self.ptx_cursor = state["step"], state["cursor"], state["ptx_cursor"]
        self.sft_texts = state["sft_texts"]
        print(f"ppo: resumed {self.cfg.run_name} at step {self.step} from {pointer['key']}", flush=True)
        return True

    # ---- one rollout step -----------------------------------------------------------------------
    def my_shard(self, records: list) -> list:
        per = len(records) // self.world
        return records[self.rank * per:(self.rank + 1) * per]

    def generate_pushed(self, everyone: bool = True, **kwargs) -> Generation:
        """`Generate(**kwargs)` from exactly the weights this trainer pushed last. A policy-inference
        that restarted serves its initial weights (version 0), one another caller pushed to serves
        theirs: the step would train on samples of other weights. So the answer's version is checked
        (on every rank, agreed by all_reduce when `everyone` calls), and on a mismatch rank 0 pushes
        the current policy again and the prompts are sampled again."""
        for attempt in range(REPUSHES + 1):
            gen = self.policy_client.generate(**kwargs)
            stale = torch.tensor([float(gen.policy_version != self.version)])
            if everyone and self.world > 1:
                dist.all_reduce(stale, op=dist.ReduceOp.MAX)
            if not stale.item():
                return gen
            if attempt == REPUSHES:
                break
            print(f"ppo: policy-inference answered from weights version {gen.policy_version}, not {self.version} "
                  f"(restarted, or another caller pushed); pushing the policy again and resampling step "
                  f"{self.step + 1}", flush=True)
            if everyone:
                self.push_weights()
            else:
                self.version = self.policy_client.update_weights(self.policy.state_dict(), dtype=self.cfg.push_dtype)
        raise RuntimeError(f"ppo: policy-inference answered from weights version {gen.policy_version}, not the "
                           f"pushed {self.version}, {REPUSHES + 1} times in a row; is another trainer pushing to it?")

    def rollout(self) -> dict:
        cfg, tok = self.cfg, self.tokenizer
        records, self.cursor = self.store.sample_records(cfg.prompts, cfg.prompts_per_step, cfg.seed, self.cursor)
        records = self.my_shard(records)
        prompt_ids = instruction_ids(tok, [r["prompt"] for r in records])
        t0 = time.perf_counter()
        gen = self.generate_pushed(prompt_ids=prompt_ids, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                                   seed=(cfg.seed * 1_000_003 + self.step) * 64 + self.rank)
        completions = [c.tolist() for c in gen.completion_ids]
        texts = gen.texts
        rollouts = Rollouts.build(prompt_ids, completions)
        t1 = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:  # reward and reference at the same time
            scores = pool.submit(self.reward_client.score, [r["prompt"] for r in records], texts)
            reference = pool.submit(self.reference_client.logprobs, rollouts.sequences, rollouts.prompt_lengths)
            scores, reference = scores.result(), reference.result()
        t2 = time.perf_counter()
        return {"records": records, "texts": texts, "rollouts": rollouts, "scores": torch.tensor(scores),
                "ref_logprobs": right_align(reference.logprobs, rollouts.width),
                "gen_logprobs": right_align(gen.logprobs, rollouts.width),
                "time_generate": t1 - t0, "time_score_reference": t2 - t1}

    def ptx_rows(self, n: int) -> Rollouts:
        """Pretraining texts as rollouts: a 1-token "prompt" and the rest, so every later token is learned."""
        records, self.ptx_cursor = self.store.sample_records(self.cfg.ptx_data, n * self.world, self.cfg.seed,
                                                             self.ptx_cursor)
        texts = [self.tokenizer(r["text"], add_special_tokens=False).input_ids[:self.cfg.max_length]
                 for r in self.my_shard(records)]
        return Rollouts(texts, [1] * len(texts))

    def train_step(self) -> dict:
        cfg = self.cfg
        step_start = time.perf_counter()
        data = self.rollout()
        rollouts = data["rollouts"]
        mask, width = rollouts.mask(), rollouts.width
        t0 = time.perf_counter()
        with torch.no_grad(), autocast(cfg.bf16_autocast):
            old_logprobs, old_values = self.logprobs(rollouts).float(), self.values(rollouts)
        drift = algo.masked_mean((data["gen_logprobs"] - old_logprobs).abs(), mask).item()
        rewards = algo.kl_penalty_rewards(data["scores"], old_logprobs, data["ref_logprobs"], mask, self.kl_ctl.value)
        advantages, returns = algo.gae_advantages(rewards, old_values, mask, cfg.gamma, cfg.lam)
        advantages = algo.masked_whiten(advantages, mask)
        sequence_kl = ((old_logprobs - data["ref_logprobs"]) * mask).sum(1)

        stats: dict[str, list[float]] = {}
        rows = mask.shape[0]
        for epoch in range(cfg.ppo_epochs):
            # Derived, not drawn: the same step gives the same minibatches after a resume.
            order = torch.randperm(rows, generator=torch.Generator().manual_seed(
                (cfg.seed * 1_000_003 + self.step) * 97 + epoch * 7 + self.rank))
            for start in range(0, rows, cfg.minibatch_size):
                idx = order[start:start + cfg.minibatch_size].tolist()
                mb = rollouts.rows(idx)
                # PPO-ptx rows share the policy's forward pass: DDP allows one forward per backward.
                ptx = self.ptx_rows(cfg.ptx_batch_size) if cfg.ptx_coef > 0 else None
                with autocast(cfg.bf16_autocast):
                    all_logprobs = self.policy_ddp(mb + ptx if ptx else mb)
                    values = right_align(self.value_ddp(mb), width)
                # Completions are right-aligned, so the minibatch's columns are the rollout's last ones.
                logprobs = right_align(all_logprobs[:len(idx)].float(), width)
                pg_loss, pg_stats = algo.policy_loss(logprobs, old_logprobs[idx], advantages[idx], mask[idx],
                                                     cfg.clip_range)
                vf_loss, vf_stats = algo.value_loss(values, old_values[idx], returns[idx], mask[idx],
                                                    cfg.value_clip_range)
                # The value model has its own parameters and optimizer, so no weight between the two.
                loss = pg_loss + vf_loss
                if ptx:
                    # The pretraining LM loss: mean NLL over the ptx tokens.
                    ptx_logprobs = all_logprobs[len(idx):].float()
                    ptx_loss = algo.ptx_loss(ptx_logprobs, right_align(ptx.mask(), ptx_logprobs.shape[1]))
                    loss = loss + cfg.ptx_coef * ptx_loss
                    stats.setdefault("ptx_loss", []).append(ptx_loss.item())
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
                torch.nn.utils.clip_grad_norm_(self.value_model.parameters(), cfg.max_grad_norm)
                self.policy_opt.step()
                self.value_opt.step()
                self.policy_opt.zero_grad(set_to_none=True)
                self.value_opt.zero_grad(set_to_none=True)
                for key, value in {"policy_loss": pg_loss.item(), "value_loss": vf_loss.item(),
                                   **pg_stats, **vf_stats}.items():
                    stats.setdefault(key, []).append(float(value))
        t1 = time.perf_counter()
        mean_kl = all_mean(sequence_kl.mean().item(), self.world)
        kl_coef = self.kl_ctl.value
        self.kl_ctl.update(mean_kl, cfg.prompts_per_step)
        self.step += 1
        version = self.push_weights()
        t2 = time.perf_counter()
        if self.rank == 0:
            # One set per step: appending would rewrite the whole run's rollouts every step.
            self.store.put_records(f"rollouts/{cfg.run_name}/step-{self.step:06d}", "rollouts", [
                {"step": self.step, "prompt": r["prompt"], "completion": text, "reward": float(score)}
                for r, text, score in zip(data["records"], data["texts"], data["scores"])])
        return {
            "step": self.step, "reward_mean": all_mean(data["scores"].mean().item(), self.world),
            "kl": mean_kl, "kl_coef": kl_coef,
            "non_score_reward": all_mean((rewards.sum(1) - data["scores"]).mean().item(), self.world),
            "response_length": mask.sum(1).mean().item(), "logprob_drift": drift, "policy_version": version,
            **{k: float(np.mean(v)) for k, v in stats.items()},
            "time_generate": data["time_generate"], "time_score_reference": data["time_score_reference"],
            "time_train": t1 - t0, "time_push": t2 - t1, "step_seconds": time.perf_counter() - step_start,
        }

    # ---- in-training evaluation (for the win-rate plot) -----------------------------------------
    def sample_heldout(self, heldout: list[dict]) -> list[str]:
        """Rank 0: the served policy's completions of the held-out prompts (fixed seed)."""
        prompt_ids = instruction_ids(self.tokenizer, [r["prompt"] for r in heldout])
        gen = self.generate_pushed(everyone=False, prompt_ids=prompt_ids, max_new_tokens=self.cfg.max_new_tokens,
                                   temperature=0.7, seed=self.cfg.seed + 7)
        return gen.texts

    def run(self) -> Path:
        cfg = self.cfg
        self.check_tokenizers()
        if not (cfg.resume and self.load_checkpoint()):
            self.step = 0
        if self.rank == 0:
            self.log.drop_after(self.step)
        self.push_weights()  # the service serves exactly the trainer's policy from here on
        heldout = []
        if self.rank == 0 and cfg.eval_every > 0:
            heldout = all_records(self.store, cfg.eval_prompts)[:cfg.eval_size]
            if self.sft_texts is None:  # step 0: the policy is still the SFT model
                self.sft_texts = self.sample_heldout(heldout)
        progress = tqdm(range(self.step, cfg.steps), desc=f"ppo[{cfg.run_name}]", unit="step",
                        disable=self.rank != 0, initial=self.step, total=cfg.steps)
        for _ in progress:
            metrics = self.train_step()
            if heldout and self.step % cfg.eval_every == 0:
                wins = wins_against(SimulatedLabeler(seed=cfg.seed), heldout, self.sample_heldout(heldout),
                                    self.sft_texts)
                metrics["win_rate"] = float(np.mean(wins))
            if self.rank == 0:
                self.log.write(**metrics)
                progress.set_postfix(reward=f"{metrics['reward_mean']:.3f}", kl=f"{metrics['kl']:.3f}")
            if (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0) or self.step == cfg.steps:
                self.save_checkpoint()
        # Every rank prints its weights' digest: DDP replicas that drifted apart show up here.
        print(f"ppo: rank {self.rank} policy revision {weights_revision(self.policy)}", flush=True)
        if self.rank == 0:
            save_model(self.output, self.policy.eval(), self.tokenizer)
            print(f"ppo: wrote {self.output} after {self.step} steps", flush=True)
            if cfg.output_uri:
                shutil.copy(self.log.path, self.output / "training_metrics.jsonl")
                publish(self.output, cfg.output_uri, "ppo")
        return self.output

    def close(self) -> None:
        for client in (self.store, self.policy_client, self.reward_client, self.reference_client):
            client.close()
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def train_ppo(config: Config) -> Path:
    trainer = Trainer(config)
    try:
        return trainer.run()
    finally:
        trainer.close()
