"""`rlhf train ppo`: PPO (and PPO-ptx) against the reward model, through the four services.

One rollout step: sample prompts (data-store) -> Generate (policy-inference) -> Score and LogProbs
concurrently (reward-scoring, reference-kl) -> own forward for old log-probs and values -> per-token
KL rewards, GAE, whitening -> PPO epochs over minibatches (+ ptx rows) -> rank 0 pushes weights.
Runs alone or under torchrun (RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT), one process per GPU:
gloo on CPU and nccl on GPU, prompts sharded by rank, policy and value model each trained with DDP or
FSDP2 (`ppo.parallel.strategy`). Every rank takes part in gathering the weights for a push or the final save;
rank 0 streams them. Checkpoints are torch.distributed.checkpoint (DCP) directories in the store.
"""

from __future__ import annotations

import json
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

from pipelines.common import (MetricsLog, SeedUse, data_store, derive_seed, judge, metrics_path, publish,
                              resolve_model, seed_everything)
from rlhf import parallel
from rlhf.algos import ppo as algo
from rlhf.clients.base import ServiceError
from rlhf.clients.policy_inference import Generation, PolicyInferenceClient
from rlhf.clients.reference_kl import ReferenceKLClient
from rlhf.clients.reward_scoring import RewardScoringClient
from rlhf.config import Config, service_address
from rlhf.device import autocast, close_distributed, device, init_distributed
from rlhf.labelers import SimulatedLabeler
from rlhf.models import (FrozenLower, decoder_layers, freeze_lower_layers, load_policy, load_reward_model,
                         load_tokenizer, lora, token_scores, tokenizer_fingerprint)
from rlhf.models.scoring import CompletionLogprobs, instruction_ids, left_pad


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

    def mask(self, where: torch.device | None = None) -> torch.Tensor:
        lengths = torch.tensor([len(s) - p for s, p in zip(self.sequences, self.prompt_lengths)])
        return (torch.arange(self.width)[None, :] >= self.width - lengths[:, None]).float().to(where)

    def rows(self, idx: list[int]) -> "Rollouts":
        return Rollouts([self.sequences[i] for i in idx], [self.prompt_lengths[i] for i in idx])

    def __add__(self, other: "Rollouts") -> "Rollouts":
        return Rollouts(self.sequences + other.sequences, self.prompt_lengths + other.prompt_lengths)


@dataclass
class Experience:
    """One rollout step's samples on this rank, B rows (its share of the step's prompts) and C
    columns (the longest completion), per-token tensors right-aligned as in `Rollouts`."""

    records: list[dict]           # B prompt records
    texts: list[str]              # B completions as policy-inference decoded them
    rollouts: Rollouts            # B sequences (prompt + completion ids) and prompt lengths
    mask: torch.Tensor            # (B, C) 1.0 at completion tokens
    scores: torch.Tensor          # (B,) the reward model's score of each completion
    ref_logprobs: torch.Tensor    # (B, C) log pi_SFT(token), from reference-kl
    gen_logprobs: torch.Tensor    # (B, C) the generator's log-probs, kept only to report their drift
    old_logprobs: torch.Tensor    # (B, C) log pi_old(token), the trainer's own forward
    old_values: torch.Tensor      # (B, C) V(state before the token)
    policy_lower: torch.Tensor | None  # (B, L, D) the policy's frozen layers' output (L: longest sequence)
    value_lower: torch.Tensor | None   # (B, L, D) the value model's (None: no frozen layers to reuse)
    rewards: torch.Tensor         # (B, C) -beta * (logp - logp_ref), plus the score on the last token
    advantages: torch.Tensor      # (B, C) GAE, whitened over every rank's valid tokens
    returns: torch.Tensor         # (B, C) advantages (before whitening) + old values
    times: dict[str, float]       # seconds: time_generate, time_score_reference, time_forward


def right_align(x: torch.Tensor | list, width: int) -> torch.Tensor:
    """(B, width): rows (a tensor, or 1-D arrays) ending at the right edge, zero-filled on the left."""
    if isinstance(x, list):
        x = torch.stack([torch.nn.functional.pad(torch.tensor(a, dtype=torch.float32), (width - len(a), 0))
                         for a in x])
    return x[:, -width:] if x.shape[1] >= width else torch.nn.functional.pad(x, (width - x.shape[1], 0))


class CompletionValues(torch.nn.Module):
    """V(state before each completion token) (B, C): the value model's scalar head at the position
    that predicts the token. A module so DDP sees, and syncs, this forward. With `frozen`, as
    `CompletionLogprobs`: runs the layers above the frozen ones and returns the frozen ones' output."""

    def __init__(self, model: torch.nn.Module, pad_token_id: int, device: torch.device,
                 frozen: FrozenLower | None = None):
        super().__init__()
        self.model = model
        self.pad_token_id = pad_token_id
        self.device = device
        self.frozen = frozen

    def forward(self, rollouts: Rollouts, lower: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        input_ids, attention_mask = left_pad(rollouts.sequences, self.pad_token_id, self.device)
        end, width = input_ids.shape[1], rollouts.width
        if self.frozen is None:
            return token_scores(self.model, input_ids, attention_mask)[:, end - width - 1:end - 1].float(), None
        hidden = self.frozen.hidden(input_ids, attention_mask, lower)
        with self.frozen.upper():
            scores = token_scores(self.model, input_ids, attention_mask, hidden)
        return scores[:, end - width - 1:end - 1].float(), hidden


def rows_of(x: torch.Tensor | None, idx: list[int]) -> torch.Tensor | None:
    return None if x is None else x[idx]


def all_mean(value: float, world: int) -> float:
    return parallel.all_sum(value).item() / world


class Trainer:
    def __init__(self, config: Config):
        self.config = config
        self.cfg = cfg = config.ppo
        self.rank, self.world = init_distributed()
        self.device = device()
        if cfg.prompts_per_step % self.world:
            raise ValueError(f"ppo.prompts_per_step={cfg.prompts_per_step} must divide evenly across "
                             f"{self.world} workers")
        seed_everything(derive_seed(cfg.seed, SeedUse.PROCESS, self.rank))
        init = resolve_model(cfg.init_model)
        self.tokenizer = load_tokenizer(init)
        self.policy = load_policy(init).train()
        self.value_model = load_reward_model(resolve_model(cfg.value_model)).train()
        if cfg.lora.rank:  # adapters on both; the value head ("score") trains whole
            lora.add_adapters(self.policy, cfg.lora)
            lora.add_adapters(self.value_model, cfg.lora, trainable=["score"])
        models = {"policy": self.policy, "value model": self.value_model}
        frozen = {name: FrozenLower(model, freeze_lower_layers(model, cfg.frozen_fraction))
                  for name, model in models.items()}
        # Frozen layers compute the same output in every forward over a step's rollouts: it is kept
        # from the old log-probs' and values' forwards, and the training forwards start above it.
        split = {name: part if part.supported else None for name, part in frozen.items()}
        # And when the RM froze the same layers of the same SFT model, the value model's frozen part
        # is the policy's: it runs once for both.
        self.shared_lower = frozen["policy"].computes_as(frozen["value model"])
        # The policy PPO trains is the one its rollouts are sampled from, so the ratio and the KL
        # penalty are taken at that temperature; greedy rollouts (the tests') train the model's own.
        self.temperature = cfg.temperature or 1.0
        self.logprobs = CompletionLogprobs(self.policy, self.device, split["policy"], self.temperature)
        self.values = CompletionValues(self.value_model, self.tokenizer.pad_token_id, self.device, split["value model"])
        # Two separately wrapped models, as InstructGPT keeps them: the value model is not a head on
        # the policy. Under FSDP2 the wrappers are the roots, so self.logprobs is sharded as well.
        options = dict(device=self.device, world=self.world, bf16=cfg.bf16_autocast)
        self.policy_ddp = parallel.wrap(self.logprobs, self.policy, cfg.parallel, **options)
        self.value_ddp = parallel.wrap(self.values, self.value_model, cfg.parallel, **options)
        # The base the adapters apply to, as policy-inference hashes it (GetInfo's revision).
        self.base_revision = parallel.revision(self.policy, "base") if cfg.lora.rank else ""
        for name, model in models.items():
            local, total = parallel.held_parameters(model)
            reuse = "their output computed once per step" if split[name] else "run in every forward"
            if self.shared_lower and name == "value model":
                reuse = "the policy's, computed once per step for both"
            print(f"ppo: rank {self.rank} of {self.world} ({cfg.parallel.strategy}) holds {local} of {total} {name} "
                  f"parameters; the lowest {frozen[name].frozen} of {len(decoder_layers(model))} decoder layers "
                  f"frozen{f' ({reuse})' if frozen[name].frozen else ''}", flush=True)
        self.policy_opt = torch.optim.AdamW([p for p in self.policy.parameters() if p.requires_grad],
                                            lr=cfg.learning_rate, weight_decay=0.0, fused=True)  # as SFT's
        self.value_opt = torch.optim.AdamW([p for p in self.value_model.parameters() if p.requires_grad],
                                           lr=cfg.value_learning_rate, weight_decay=0.0, fused=True)
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
        """Every rank gathers the policy one weight at a time; rank 0 writes each into a safetensors
        file as it comes and streams the file to policy-inference, so no rank holds the whole model
        (sharded) or a second copy of it (bytes). With LoRA only the adapters go (peft's format),
        which policy-inference applies to its base; when its base is not this trainer's (another
        trainer pushed whole weights, or it serves another model), the base goes whole first. Every
        rank gets the version installed (a broadcast), so the next rollout uses it and every rank
        can check it."""
        with tempfile.TemporaryDirectory() as tmp:
            if not self.cfg.lora.rank:
                self.version = self._push(Path(tmp), "model")
                return self.version
            version = self._push(Path(tmp), "adapter")
            if version < 0:
                self._push(Path(tmp), "base")
                version = self._push(Path(tmp), "adapter")
            if version < 0:
                raise RuntimeError("ppo: policy-inference refused the adapter for another base right after "
                                   "receiving the base; is another trainer pushing to it?")
        self.version = version
        return version

    def _push(self, tmp: Path, part: parallel.Part) -> int:
        """Pushes one part of the policy (`parallel.part_weights`); the base goes in fp32, so the
        service's base has exactly the revision the adapters were trained on. Returns the version
        installed, on every rank; -1 when policy-inference refused an adapter for another base."""
        path = tmp / f"{part}.safetensors" if self.rank == 0 else None
        dtype = None if part == "base" else getattr(torch, self.cfg.push_dtype)
        parallel.write_safetensors(path, self.policy, dtype, part=part)
        version = 0
        if self.rank == 0:
            adapter = dict(adapter_config=lora.adapter_config(self.cfg.lora), base_revision=self.base_revision) \
                if part == "adapter" else {}
            try:
                version = self.policy_client.update_weights(path, **adapter)
            except ServiceError as exc:
                if not (adapter and exc.code == grpc.StatusCode.FAILED_PRECONDITION
                        and "header.base_revision" in exc.details):
                    raise
                print(f"ppo: {exc.details}; pushing the base whole ({self.base_revision})", flush=True)
                version = -1
        if self.world > 1:
            shared = torch.tensor([version], dtype=torch.int64)
            dist.broadcast(shared, 0)
            version = int(shared.item())
        return version

    # ---- checkpoints ----------------------------------------------------------------------------
    def checkpoint_parts(self) -> dict:
        # The unwrapped models: their parameter names do not depend on DDP / FSDP2 / world size.
        # Only trainable weights are saved: with LoRA, the adapters, the value head and their state.
        return {"policy": (self.policy, self.policy_opt), "value": (self.value_model, self.value_opt)}

    def save_checkpoint(self) -> None:
        """A DCP directory checkpoints/<run>/step-NNNNNN/: each rank uploads its own shards (from a
        temp directory the client streams from), rank 0 the metadata and trainer.pt (step, cursors,
        KL controller, held-out SFT completions, every rank's RNG), then the latest.json pointer."""
        prefix = f"{self.checkpoint_prefix}/step-{self.step:06d}"
        rng = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
        rngs = [None] * self.world
        if self.world > 1:
            dist.all_gather_object(rngs, rng)
        else:
            rngs = [rng]
        with tempfile.TemporaryDirectory() as tmp:
            parallel.save_state(Path(tmp), self.checkpoint_parts())
            if self.rank == 0:
                torch.save({"step": self.step, "cursor": self.cursor, "ptx_cursor": self.ptx_cursor,
                            "kl_ctl": self.kl_ctl.state_dict(), "sft_texts": self.sft_texts, "rng": rngs},
                           Path(tmp) / "trainer.pt")
            for file in sorted(Path(tmp).iterdir()):
                # The store reserves names starting with '.' (DCP's .metadata): stored without the dot.
                self.store.put(f"{prefix}/{file.name.lstrip('.')}", file)
        if self.world > 1:
            dist.barrier()  # every rank's shards are stored before the pointer names them
        if self.rank == 0:
            # The pointer is written last: a crash before it leaves the previous checkpoint current.
            self.store.put(f"{self.checkpoint_prefix}/latest.json",
                           json.dumps({"step": self.step, "key": prefix, "world": self.world}).encode())
            saved = sorted({o.key.rsplit("/", 1)[0] for o in self.store.list(f"{self.checkpoint_prefix}/step-")})
            for stale in saved[:-max(1, self.cfg.keep_checkpoints)]:
                for obj in self.store.list(f"{stale}/"):
                    self.store.delete(obj.key)
        if self.world > 1:
            dist.barrier()

    def load_checkpoint(self) -> bool:
        """Loads the latest checkpoint at any world size: every rank downloads all its files, and
        DCP reads the parts of each global tensor this rank's shards (or whole tensors) cover."""
        try:
            pointer = json.loads(self.store.get(f"{self.checkpoint_prefix}/latest.json"))
        except ServiceError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND:  # no checkpoint yet
                return False
            raise
        with tempfile.TemporaryDirectory() as tmp:
            for obj in self.store.list(f"{pointer['key']}/"):
                name = obj.key.rsplit("/", 1)[1]
                self.store.get_to_file(obj.key, Path(tmp) / ("." + name if name == "metadata" else name))
            parallel.load_state(Path(tmp), self.checkpoint_parts())
            state = torch.load(Path(tmp) / "trainer.pt", weights_only=False)
        self.kl_ctl.load_state_dict(state["kl_ctl"])
        if self.rank < len(state["rng"]):  # at a larger world size the new ranks keep their seeds
            rng = state["rng"][self.rank]
            torch.set_rng_state(rng["torch"])
            np.random.set_state(rng["numpy"])
            random.setstate(rng["python"])
        self.step, self.cursor, self.ptx_cursor = state["step"], state["cursor"], state["ptx_cursor"]
        self.sft_texts = state["sft_texts"]
        print(f"ppo: resumed {self.cfg.run_name} at step {self.step} from {pointer['key']} "
              f"(written by {pointer['world']} ranks, read by {self.world})", flush=True)
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
            if attempt == REPUSHES or not (everyone or self.world == 1):
                break  # a push gathers the policy on every rank: a rank-0-only call cannot make one
            print(f"ppo: policy-inference answered from weights version {gen.policy_version}, not {self.version} "
                  f"(restarted, or another caller pushed); pushing the policy again and resampling step "
                  f"{self.step + 1}", flush=True)
            self.push_weights()
        raise RuntimeError(f"ppo: policy-inference answered from weights version {gen.policy_version}, not the "
                           f"pushed {self.version}, {REPUSHES + 1} times in a row; is another trainer pushing to it?")

    def make_experience(self) -> Experience:
        """One rollout step on this rank: sample prompts, Generate (checked against the pushed
        version), Score and LogProbs at the same time, then the trainer's own forward for the old
        log-probs and values, per-token KL rewards, GAE and whitening over every rank."""
        cfg = self.cfg
        records, self.cursor = self.store.sample_records(cfg.prompts, cfg.prompts_per_step, cfg.seed, self.cursor)
        records = self.my_shard(records)
        prompt_ids = instruction_ids(self.tokenizer, [r["prompt"] for r in records])
        t0 = time.perf_counter()
        gen = self.generate_pushed(prompt_ids=prompt_ids, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                                   seed=derive_seed(cfg.seed, SeedUse.ROLLOUT, self.step, self.rank))
        rollouts = Rollouts.build(prompt_ids, [c.tolist() for c in gen.completion_ids])
        t1 = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:  # reward and reference at the same time
            scores = pool.submit(self.reward_client.score, [r["prompt"] for r in records], gen.texts)
            reference = pool.submit(self.reference_client.logprobs, rollouts.sequences, rollouts.prompt_lengths,
                                    temperature=self.temperature)
            scores, reference = scores.result(), reference.result()
        t2 = time.perf_counter()
        width = rollouts.width
        mask = rollouts.mask(self.device)
        scores = torch.tensor(scores, device=self.device)
        ref_logprobs = right_align(reference.logprobs, width).to(self.device)
        with torch.no_grad(), autocast(cfg.bf16_autocast):
            old_logprobs, _, policy_lower = self.logprobs(rollouts.sequences, rollouts.prompt_lengths)
            old_values, value_lower = self.values(rollouts, policy_lower if self.shared_lower else None)
        old_logprobs = old_logprobs.float()
        rewards = algo.kl_penalty_rewards(scores, old_logprobs, ref_logprobs, mask, self.kl_ctl.value)
        advantages, returns = algo.gae_advantages(rewards, old_values, mask, cfg.gamma, cfg.lam)
        advantages = algo.masked_whiten(advantages, mask, total=lambda t: parallel.all_sum(t).to(t))
        return Experience(records=records, texts=gen.texts, rollouts=rollouts, mask=mask, scores=scores,
                          ref_logprobs=ref_logprobs, gen_logprobs=right_align(gen.logprobs, width).to(self.device),
                          old_logprobs=old_logprobs, old_values=old_values, policy_lower=policy_lower,
                          value_lower=value_lower, rewards=rewards, advantages=advantages,
                          returns=returns, times={"time_generate": t1 - t0, "time_score_reference": t2 - t1,
                                                  "time_forward": time.perf_counter() - t2})

    def ptx_rows(self, n: int) -> Rollouts:
        """Pretraining texts as rollouts: a 1-token "prompt" and the rest, so every later token is learned."""
        records, self.ptx_cursor = self.store.sample_records(self.cfg.ptx_data, n * self.world, self.cfg.seed,
                                                             self.ptx_cursor)
        texts = [self.tokenizer(r["text"], add_special_tokens=False).input_ids[:self.cfg.max_length]
                 for r in self.my_shard(records)]
        return Rollouts(texts, [1] * len(texts))

    def ppo_update(self, exp: Experience) -> dict[str, list[float]]:
        """`ppo_epochs` passes over the experience in minibatches (each split into the gradient
        accumulation micro-batches): clipped surrogate, clipped value loss and, with ptx_coef > 0,
        the pretraining loss on ptx rows that share the policy's forward. Returns each statistic
        per micro-batch."""
        cfg, width = self.cfg, exp.rollouts.width
        stats: dict[str, list[float]] = {}
        for epoch in range(cfg.ppo_epochs):
            # Derived, not drawn: the same step gives the same minibatches after a resume.
            order = torch.randperm(len(exp.records), generator=torch.Generator().manual_seed(
                derive_seed(cfg.seed, SeedUse.MINIBATCHES, self.step, epoch, self.rank)))
            for start in range(0, len(exp.records), cfg.minibatch_size):
                minibatch = order[start:start + cfg.minibatch_size].tolist()
                ptx = self.ptx_rows(cfg.ptx_batch_size) if cfg.ptx_coef > 0 else None
                # Micro-batches of gradient accumulation: every rank has the same number of rows, so
                # the same number of forwards (FSDP2 gathers in each).
                micro = [part.tolist() for part in np.array_split(minibatch, cfg.parallel.gradient_accumulation_steps)
                         if len(part)]
                ptx_parts = np.array_split(np.arange(len(ptx.sequences) if ptx else 0), len(micro))
                for i, idx in enumerate(micro):
                    mb = exp.rollouts.rows(idx)
                    mb_ptx = ptx.rows(ptx_parts[i].tolist()) if ptx and len(ptx_parts[i]) else None
                    with parallel.grad_sync(self.policy_ddp, i == len(micro) - 1), \
                            parallel.grad_sync(self.value_ddp, i == len(micro) - 1):
                        # PPO-ptx rows share the policy's forward pass: DDP allows one forward per backward.
                        with autocast(cfg.bf16_autocast):
                            rows = mb + mb_ptx if mb_ptx else mb
                            # ptx rows: the model's own distribution, the one pretraining text is scored by.
                            temperatures = ([self.temperature] * len(idx) + [1.0] * len(mb_ptx.sequences)
                                            if mb_ptx else None)
                            all_logprobs = self.policy_ddp(rows.sequences, rows.prompt_lengths,
                                                           rows_of(exp.policy_lower, idx), temperatures)[0]
                            values = right_align(self.value_ddp(mb, rows_of(exp.value_lower, idx))[0], width)
                        # Completions are right-aligned, so the minibatch's columns are the rollout's last ones.
                        logprobs = right_align(all_logprobs[:len(idx)].float(), width)
                        pg_loss, pg_stats = algo.policy_loss(logprobs, exp.old_logprobs[idx], exp.advantages[idx],
                                                             exp.mask[idx], cfg.clip_range)
                        vf_loss, vf_stats = algo.value_loss(values, exp.old_values[idx], exp.returns[idx],
                                                            exp.mask[idx], cfg.value_clip_range)
                        # The value model has its own parameters and optimizer, so no weight between the two.
                        loss = (pg_loss + vf_loss) * len(idx) / len(minibatch)
                        if mb_ptx:
                            # The pretraining LM loss: mean NLL over the ptx tokens.
                            ptx_logprobs = all_logprobs[len(idx):].float()
                            ptx_loss = algo.ptx_loss(ptx_logprobs,
                                                     right_align(mb_ptx.mask(self.device), ptx_logprobs.shape[1]))
                            loss = loss + cfg.ptx_coef * ptx_loss * len(mb_ptx.sequences) / len(ptx.sequences)
                            stats.setdefault("ptx_loss", []).append(ptx_loss.item())
                        loss.backward()
                    for key, value in {"policy_loss": pg_loss.item(), "value_loss": vf_loss.item(),
                                       **pg_stats, **vf_stats}.items():
                        stats.setdefault(key, []).append(float(value))
                parallel.clip_grad_norm(self.policy.parameters(), cfg.max_grad_norm)
                parallel.clip_grad_norm(self.value_model.parameters(), cfg.max_grad_norm)
                self.policy_opt.step()
                self.value_opt.step()
                self.policy_opt.zero_grad(set_to_none=True)
                self.value_opt.zero_grad(set_to_none=True)
        return stats

    def train_step(self) -> dict:
        """make_experience, ppo_update, the KL controller, the weight push, the step's rollouts in
        the store; returns the step's metrics (averaged over ranks)."""
        cfg = self.cfg
        step_start = time.perf_counter()
        exp = self.make_experience()
        t0 = time.perf_counter()
        stats = self.ppo_update(exp)
        t1 = time.perf_counter()
        sequence_kl = ((exp.old_logprobs - exp.ref_logprobs) * exp.mask).sum(1)
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
                for r, text, score in zip(exp.records, exp.texts, exp.scores)])
        return {
            "step": self.step, "reward_mean": all_mean(exp.scores.mean().item(), self.world),
            "kl": mean_kl, "kl_coef": kl_coef,
            "non_score_reward": all_mean((exp.rewards.sum(1) - exp.scores).mean().item(), self.world),
            "response_length": exp.mask.sum(1).mean().item(),
            # The generator's log-probs are the model's own (temperature 1): comparable at 1 and greedy.
            **({"logprob_drift": algo.masked_mean((exp.gen_logprobs - exp.old_logprobs).abs(), exp.mask).item()}
               if self.temperature == 1.0 else {}),
            "policy_version": version,
            **{k: all_mean(float(np.mean(v)), self.world) for k, v in sorted(stats.items())},
            **exp.times, "time_train": t1 - t0, "time_push": t2 - t1, "step_seconds": time.perf_counter() - step_start,
        }

    # ---- in-training evaluation (for the win-rate plot) -----------------------------------------
    def sample_heldout(self, heldout: list[dict]) -> list[str]:
        """Rank 0: the served policy's completions of the held-out prompts (fixed seed; sampled like
        `rlhf eval` samples, at eval.temperature)."""
        prompt_ids = instruction_ids(self.tokenizer, [r["prompt"] for r in heldout])
        gen = self.generate_pushed(everyone=False, prompt_ids=prompt_ids, max_new_tokens=self.cfg.max_new_tokens,
                                   temperature=self.config.eval.temperature, seed=self.cfg.seed + 7)
        return gen.texts

    def heldout_win_rate(self, heldout: list[dict]) -> float:
        """Rank 0: the served policy against the SFT completions, judged like `rlhf eval` does (the
        labeler where a prompt has constraints, the reward model where it has none)."""
        texts = self.sample_heldout(heldout)
        scores = None
        if not all(SimulatedLabeler.can_judge(r) for r in heldout):
            prompts = [r["prompt"] for r in heldout]
            scores = (self.reward_client.score(prompts, texts), self.reward_client.score(prompts, self.sft_texts))
        outcomes, _ = judge(heldout, texts, self.sft_texts, scores)
        return float(np.mean(outcomes))

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
            heldout = self.store.read_records(cfg.eval_prompts)[:cfg.eval_size]
            if self.sft_texts is None:  # step 0: the policy is still the SFT model
                self.sft_texts = self.sample_heldout(heldout)
        progress = tqdm(range(self.step, cfg.steps), desc=f"ppo[{cfg.run_name}]", unit="step",
                        disable=self.rank != 0, initial=self.step, total=cfg.steps)
        for _ in progress:
            metrics = self.train_step()
            if heldout and self.step % cfg.eval_every == 0:
                metrics["win_rate"] = self.heldout_win_rate(heldout)
            if self.rank == 0:
                self.log.write(**metrics)
                progress.set_postfix(reward=f"{metrics['reward_mean']:.3f}", kl=f"{metrics['kl']:.3f}")
            if (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0) or self.step == cfg.steps:
                self.save_checkpoint()
        # Every rank prints its weights' digest: DDP replicas that drifted apart show up here (FSDP2
        # ranks compute it from the same gathered weights).
        print(f"ppo: rank {self.rank} policy revision {parallel.revision(self.policy)}", flush=True)
        parallel.save_pretrained(self.output, self.policy.eval(), self.tokenizer, self.rank)  # LoRA: merged
        if self.cfg.lora.rank:  # and the adapter alone, as peft saves it
            adapter = self.output / "adapter"
            if self.rank == 0:
                adapter.mkdir(exist_ok=True)
                (adapter / "adapter_config.json").write_text(lora.adapter_config(self.cfg.lora))
            parallel.write_safetensors(adapter / "adapter_model.safetensors" if self.rank == 0 else None,
                                       self.policy, part="adapter")
        if self.rank == 0:
            print(f"ppo: wrote {self.output} after {self.step} steps", flush=True)
            if cfg.output_uri:
                shutil.copy(self.log.path, self.output / "training_metrics.jsonl")
                publish(self.output, cfg.output_uri, "ppo")
        return self.output

    def close(self) -> None:
        for client in (self.store, self.policy_client, self.reward_client, self.reference_client):
            client.close()
        close_distributed()


def train_ppo(config: Config) -> Path:
    trainer = Trainer(config)
    try:
        return trainer.run()
    finally:
        trainer.close()
