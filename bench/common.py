"""Shared by the benchmarks: the models they run, concurrent callers, the services a PPO trainer calls."""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from pipelines.data import DEMO_SETS, import_data
from pipelines.processes import start_services, stop_services
from rlhf.clients.data_store import DataStoreClient
from rlhf.config import Config


def model_dirs(tiny: bool) -> tuple[Path, Path]:
    """(policy dir, reward-model dir): SmolLM2-135M (the demo's model) or tiny random Llamas."""
    from rlhf.models import smollm2

    if tiny:
        import tempfile

        from rlhf.models.tiny import make_tiny_models

        paths = make_tiny_models(tempfile.mkdtemp(), smollm2.tokenizer_dir())
        return paths["policy"], paths["reward"]
    # A reward model with SmolLM2's trunk: same cost per item as the demo's RM.
    return smollm2.model_dir(), smollm2.model_dir()


def timed_callers(callers: int, work: Callable[[int], None], prepare: Callable[[int], None] = lambda i: None) -> float:
    """Runs prepare(i) then work(i) on one thread per caller; returns the seconds the `work` calls
    took together, timed from when every caller is prepared (connected, warmed up)."""
    barrier = threading.Barrier(callers + 1)

    def caller(i: int) -> None:
        prepare(i)
        barrier.wait()
        work(i)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


@contextlib.contextmanager
def ppo_stack(policy_dir: Path, rm_dir: Path) -> Iterator[Config]:
    """The four services a PPO trainer calls, started as the embedded runner starts them (its torch
    threads), with the demo's record sets imported; yields a Config whose PPO stage trains
    `policy_dir` against them (no in-training eval), and stops the services at the end."""
    store_dir = tempfile.mkdtemp()
    config = Config()
    config.ppo.init_model, config.ppo.value_model = str(policy_dir), str(rm_dir)
    config.ppo.output_dir = str(Path(store_dir) / "out")
    config.ppo.eval_every = 0
    services = start_services({"data_store": ["--store", f"file://{store_dir}/store"],
                               "policy_inference": ["--model", str(policy_dir)],
                               "reward_scoring": ["--model", str(rm_dir)],
                               "reference_kl": ["--model", str(policy_dir)]})
    try:
        for section, service in services.items():
            getattr(config.services, section).port = service.port
        with DataStoreClient(services["data_store"].target) as store:
            import_data(store, {record_set: "demo" for record_set in DEMO_SETS})
        yield config
    finally:
        stop_services(services.values())
