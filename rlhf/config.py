"""One typed config schema for the CLI, the local runner, the Helm ConfigMap and the KFP params.

A config file is YAML or JSON whose keys mirror these dataclasses. Loading is strict: an unknown
key or a value of the wrong type fails with the dotted path of the field (`services.reward_scoring.port`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class ServiceConfig:
    """How one gRPC service listens and batches."""

    host: str = "127.0.0.1"
    """Address to bind; 0.0.0.0 in a container."""
    port: int = 50051
    """gRPC port; 0 picks a free one (printed at start)."""
    metrics_port: int = 0
    """Prometheus /metrics HTTP port; 0 picks a free one (printed at start), -1 disables it."""
    max_message_mb: int = 64
    """Largest gRPC message accepted or sent, in MiB."""
    grace_seconds: float = 30.0
    """On SIGTERM, how long in-flight calls may run before they are cancelled."""
    max_batch_size: int = 16
    """Most sequences the server batches into one forward pass across concurrent requests."""
    max_batch_tokens: int = 8192
    """Most tokens (prompt + new tokens) in one server-side batch."""
    batch_wait_ms: float = 5.0
    """How long the first request of a batch waits for others to join it."""
    max_queue: int = 1024
    """Most items waiting for a batch; beyond it requests fail fast with RESOURCE_EXHAUSTED."""
    model: str = ""
    """Model directory the service loads; unused by data-store."""
    store: str = ""
    """Store URI (file://DIR or s3://BUCKET) data-store serves; "" means store.uri."""
    torch_threads: int = 0
    """CPU threads for the model (torch.set_num_threads); 0 keeps torch's default. On one machine,
    services that run at the same time share the cores: give them fewer each."""
    max_text_chars: int = 100_000
    """Longest text (prompt, completion) a request may carry, checked before any tokenizing."""
    max_items: int = 1024
    """Most items one call may carry (prompts x n, (prompt, completion) pairs, sequences, sampled
    records), checked before any tokenizing."""
    tokens_file: str = ""
    """Bearer tokens, one per line (a mounted Secret, re-read when it changes); "" turns auth off."""
    tls_cert_file: str = ""
    """PEM certificate chain; with `tls_key_file` the service serves TLS only."""
    tls_key_file: str = ""
    """PEM private key of `tls_cert_file`."""


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


# ---- client settings (issue 12): how the trainer and the stages call the services ----------------
@dataclass
class ClientConfig:
    """Deadlines and retries of every client call (rlhf/clients). A call gets a deadline per attempt
    sized to its work, and is retried (UNAVAILABLE, and DEADLINE_EXCEEDED when it is idempotent)
    with capped exponential backoff until `retry_budget_s` have passed since its first failure:
    long enough for a restarted pod to load its model, short enough that a dead or frozen service
    ends the run with an error naming it."""

    attempt_timeout_s: float = 30.0
    """Deadline of one attempt of a call with little work (GetInfo, SampleRecords, small objects):
    a frozen service is detected after it."""
    generate_s_per_token: float = 0.05
    """Added to a Generate attempt's deadline per token it asks for (prompts x n x max_new_tokens)."""
    score_s_per_sequence: float = 0.1
    """Added to a Score or LogProbs attempt's deadline per sequence."""
    transfer_bytes_per_s: float = 8 * 2**20
    """Slowest expected transfer: an object or weight push of B bytes adds B / this to its attempt."""
    retry_budget_s: float = 120.0
    """How long after a call's first failure it keeps retrying (a pod restart: about a minute)."""
    backoff_s: float = 0.5
    """First wait between attempts; doubled each retry (with jitter) up to `max_backoff_s`."""
    max_backoff_s: float = 4.0
    """Longest wait between attempts."""
# ---- end of client settings ---------------------------------------------------------------------


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
    reload_interval_s: float = 10.0
    """How often the repository is checked for a new version."""
    keep_versions: int = 2
    """How many of the newest versions stay loaded (and can be pinned by callers)."""
    host: str = "127.0.0.1"
    """Address both protocols bind; 0.0.0.0 in a container."""
    http_port: int = 8080
    """REST (OIP v2) and /metrics port; 0 picks a free one (printed at start)."""
    grpc_port: int = 8081
    """gRPC port (OIP v2, rlhf.v1.RewardScoring, health, reflection); 0 picks a free one."""
    tokens_file: str = ""
    """Bearer tokens, one per line (a mounted Secret; re-read when it changes); "" turns auth off."""
    tls_cert_file: str = ""
    """PEM certificate chain; with `tls_key_file`, both protocols serve TLS only."""
    tls_key_file: str = ""
    """PEM private key of `tls_cert_file`."""
    rate_limit_per_second: float = 0.0
    """Requests per second each token may make (a token bucket); 0 turns the limit off."""
    rate_limit_burst: int = 20
    """Requests a token may make at once before `rate_limit_per_second` applies."""
    max_batch_size: int = 32
    """Most (prompt, completion) pairs in one forward pass, across concurrent requests."""
    max_batch_tokens: int = 8192
    """Most tokens in one forward pass."""
    batch_wait_ms: float = 5.0
    """How long the first pair of a batch waits for others to join it."""
    max_queue: int = 256
    """Most pairs waiting for a batch; beyond it requests fail fast (RESOURCE_EXHAUSTED / 429)."""
    max_message_mb: int = 64
    """Largest gRPC message accepted or sent, in MiB."""
    max_body_mb: int = 16
    """Largest REST request body, in MiB: a larger one is refused (413) before it is read."""
    max_text_chars: int = 100_000
    """Longest prompt or completion, checked before any tokenizing."""
    max_items: int = 1024
    """Most (prompt, completion) pairs in one request, checked before any tokenizing."""
    grace_seconds: float = 30.0
    """On SIGTERM, how long in-flight requests may run before they are cancelled."""
    torch_threads: int = 0
    """CPU threads for the model (torch.set_num_threads); 0 keeps torch's default."""


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
    epochs: float = 0.5
    """Passes over the demonstrations (fractions allowed)."""
    batch_size: int = 8
    """Demonstrations per optimizer step."""
    learning_rate: float = 2e-5
    """AdamW learning rate (constant after a short warm-up)."""
    max_length: int = 256
    """Prompt + completion tokens kept per example; longer completions are truncated."""
    seed: int = 0
    """Seeds the data order and torch."""
    bf16_autocast: bool = True
    """Run forward/backward under bf16 autocast (weights and optimizer stay fp32)."""


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
    epochs: float = 1.0
    """Passes over the comparisons (the paper trains one epoch: more over-fits)."""
    prompts_per_batch: int = 4
    """Prompts per optimizer step; all K completions of each prompt share the batch."""
    learning_rate: float = 1e-5
    """AdamW learning rate."""
    max_length: int = 256
    """Tokens per (prompt, completion) sequence."""
    seed: int = 0
    """Seeds the data order and torch."""
    bf16_autocast: bool = True
    """Run forward/backward under bf16 autocast."""


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
    steps: int = 6
    """Rollout steps (each: sample, score, PPO epochs, weight push)."""
    prompts_per_step: int = 8
    """Prompts per rollout step across all workers (split evenly by rank)."""
    max_new_tokens: int = 40
    """Completion length limit when sampling."""
    temperature: float = 1.0
    """Sampling temperature (1.0 keeps the generator's log-probs those of the policy)."""
    ppo_epochs: int = 2
    """Passes over each rollout batch."""
    minibatch_size: int = 8
    """Sequences per PPO minibatch on each worker."""
    learning_rate: float = 2e-5
    """AdamW learning rate of the policy."""
    value_learning_rate: float = 2e-5
    """AdamW learning rate of the value model."""
    kl_coef: float = 0.05
    """beta: weight of the per-token KL penalty to the SFT model (initial value if adaptive)."""
    adaptive_kl: bool = False
    """Use the Ziegler et al. 2019 controller to steer the KL towards kl_target."""
    kl_target: float = 6.0
    """Target KL (nats per sequence) of the adaptive controller."""
    kl_horizon: int = 10000
    """Horizon (in samples) of the adaptive controller."""
    ptx_coef: float = 0.0
    """gamma: weight of the pretraining LM loss (PPO-ptx when > 0)."""
    ptx_batch_size: int = 4
    """Pretraining texts per PPO minibatch when ptx_coef > 0."""
    gamma: float = 1.0
    """Discount of the per-token rewards."""
    lam: float = 0.95
    """GAE lambda."""
    clip_range: float = 0.2
    """PPO ratio clip."""
    value_clip_range: float = 0.2
    """Value-function clip."""
    max_grad_norm: float = 1.0
    """Gradient clipping for both models."""
    max_length: int = 256
    """Tokens kept of each pretraining text in the ptx loss (completions are bounded by max_new_tokens)."""
    checkpoint_every: int = 2
    """Write a checkpoint every N steps (and at the end); 0 writes only the last."""
    keep_checkpoints: int = 1
    """Checkpoints of this run kept in the store (the newest). An older one is deleted only after a
    newer one is complete and current (latest.json points at it), so one is enough to resume; keep
    more to roll back. Each holds both models and their optimizers (about 3.5 GB for SmolLM2-135M)."""
    resume: bool = False
    """Continue from this run's latest checkpoint in the store."""
    eval_every: int = 2
    """Measure held-out win rate against SFT every N steps (for the plots); 0 disables."""
    eval_prompts: str = "prompts/heldout"
    """Record set used for the in-training win rate."""
    eval_size: int = 16
    """Held-out prompts per in-training evaluation."""
    seed: int = 0
    """Seeds data order, sampling and torch."""
    bf16_autocast: bool = True
    """Run forward/backward under bf16 autocast."""
    push_dtype: str = "bfloat16"
    """Dtype of the weights pushed to policy-inference each step: "bfloat16" halves the bytes, and
    under bf16 autocast the trainer's own matmuls see the weights in bf16 too; "float32" is exact."""
    metrics_port: int = -1
    """Prometheus port of the trainer (rank 0); -1 disables."""


@dataclass
class LabelConfig:
    """Sample K completions per prompt from the SFT policy and have a labeler rank them (`rlhf label`)."""

    prompts: str = "prompts/train"
    """Record set the training comparisons are drawn from."""
    heldout_prompts: str = "prompts/heldout"
    """Record set the held-out comparisons (RM accuracy) are drawn from."""
    num_prompts: int = 64
    """Training prompts to label."""
    num_heldout: int = 24
    """Held-out prompts to label."""
    k: int = 4
    """Completions ranked per prompt (2..9)."""
    max_new_tokens: int = 40
    """Completion length limit."""
    temperature: float = 1.0
    """Sampling temperature (diversity among the K completions)."""
    noise: float = 0.0
    """Simulated labeler noise: probability of swapping adjacent ranks (human disagreement)."""
    output: str = "comparisons"
    """Record-set prefix: writes <output>/train and <output>/heldout."""
    seed: int = 0
    """Seeds prompt choice, sampling and the labeler."""


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
    max_prompts: int = 80
    """Held-out prompts evaluated (all if fewer)."""
    max_general: int = 64
    """Held-out texts for perplexity."""
    max_new_tokens: int = 40
    """Completion length limit."""
    temperature: float = 1.0
    """Sampling temperature; at 1.0 the KL to SFT is an unbiased estimate on these same samples."""
    seed: int = 1234
    """Seeds sampling."""
    report_dir: str = "runs/latest"
    """Where report.md, metrics.json and the plots are written."""
    report_uri: str = ""
    """Also upload report.md, metrics.json and the plots to this store URI; "" skips."""
    rm_summary: str = "runs/latest/models/rm_summary.json"
    """The RM stage's summary (held-out accuracy; a path or store URI), copied into the report."""


@dataclass
class RunConfig:
    """The whole loop on one machine (`rlhf run`, `make demo`)."""

    runs_dir: str = "runs"
    """Parent of every run directory (runs/<id>/: store, models, report)."""
    run_id: str = ""
    """Name of this run's directory; "" picks a timestamp."""
    ptx_coef: float = 0.2
    """gamma of the PPO-ptx run (the plain PPO run uses ppo.ptx_coef)."""
    service_start_timeout: float = 300.0
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
    """Builds dataclass `cls` from plain data, strictly: unknown keys and wrong types raise ConfigError."""
    where = path or "<root>"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{path + '.' if path else ''}{unknown[0]}: unknown field of {cls.__name__} "
                          f"(known: {', '.join(sorted(fields))})")
    values = {name: _coerce(hints[name], value, f"{path}.{name}" if path else name) for name, value in data.items()}
    return cls(**values)


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
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
        return dict(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and (type(value) is not tp):
        raise ConfigError(f"{path}: expected {tp.__name__}, got {value!r}")
    return value


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
