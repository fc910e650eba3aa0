"""The four services on tiny models, with small record sets, for trainer tests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipelines.processes import ServiceProcess
from rlhf.clients.data_store import DataStoreClient
from rlhf.config import Config, LoraConfig

PROMPTS = [
    {"id": f"p{i}", "prompt": f"Describe {topic} in under {n} words.",
     "constraints": [{"type": "max_words", "value": n}]}
    for i, (topic, n) in enumerate([("the sea", 10), ("a cat", 12), ("bread", 15), ("rain", 8),
                                    ("a bicycle", 20), ("winter", 10), ("music", 14), ("a forest", 9)])
]
DEMONSTRATIONS = [{"prompt": p["prompt"], "completion": "It is calm and blue."} for p in PROMPTS]
GENERAL = [{"text": f"Paragraph {i}: the river ran past the old mill and the town slept."} for i in range(16)]


def start_together(start_service, args: dict[str, list[str]]) -> dict[str, ServiceProcess]:
    """start_service(name, *args[name]) for every name at once, as `rlhf run` starts its services
    (pipelines.processes.start_services): a start is mostly imports and a model load on one core."""
    with ThreadPoolExecutor(len(args)) as pool:
        futures = {name: pool.submit(start_service, name, *name_args) for name, name_args in args.items()}
    return {name: future.result() for name, future in futures.items()}


def start_stack(start_service, tiny_models: dict[str, Path], store_dir: Path, *model_args: str,
                service_args: dict[str, list[str]] | None = None) -> Config:
    """Starts data-store, policy-inference and reference-kl (tiny policy) and reward-scoring (tiny
    RM), the model services with `model_args` too and each section with its `service_args`; uploads
    the record sets; returns a Config pointing at them."""
    config = Config()
    config.store.uri = f"file://{store_dir}"
    policy, reward = str(tiny_models["policy"]), str(tiny_models["reward"])
    args = {"data-store": ["--store", config.store.uri], "policy-inference": ["--model", policy, *model_args],
            "reference-kl": ["--model", policy, *model_args], "reward-scoring": ["--model", reward, *model_args]}
    started = start_together(start_service, {
        name: [*name_args, *(service_args or {}).get(name.replace("-", "_"), [])] for name, name_args in args.items()})
    for name, proc in started.items():
        getattr(config.services, name.replace("-", "_")).port = proc.port
    with DataStoreClient(f"127.0.0.1:{config.services.data_store.port}") as store:
        store.put_records("prompts/train", "prompts", PROMPTS)
        store.put_records("prompts/heldout", "prompts", PROMPTS[:4])
        store.put_records("demonstrations", "demonstrations", DEMONSTRATIONS)
        store.put_records("general/train", "text", GENERAL)
        store.put_records("general/heldout", "text", GENERAL[:4])
    return config


def tiny_ppo(config: Config, tiny_models: dict[str, Path], out: Path, **overrides) -> Config:
    """A PPO config small enough for CI: 4 prompts a step, 8 new tokens."""
    config.ppo.init_model = str(tiny_models["policy"])
    config.ppo.value_model = str(tiny_models["reward"])
    config.ppo.output_dir = str(out)
    config.ppo.prompts_per_step = 4
    config.ppo.minibatch_size = 2
    config.ppo.max_new_tokens = 8
    config.ppo.eval_every = 0
    config.ppo.checkpoint_every = 2
    config.ppo.learning_rate = 1e-3  # large enough that every step visibly moves the tiny model
    config.ppo.lora = LoraConfig(rank=0)  # full fine-tuning unless a test asks for adapters
    for key, value in overrides.items():
        setattr(config.ppo, key, value)
    return config
