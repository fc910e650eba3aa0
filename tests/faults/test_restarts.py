"""PPO through the real services rides through a service being SIGKILLed (the `rlhf run`
Supervisor starts it again on its port) or frozen (SIGSTOP, then SIGCONT) in the middle of the run,
and ends with exactly the weights of an undisturbed run: the clients retry within their budget,
and a restarted policy-inference (serving its initial weights) is re-pushed and the step sampled
again from the trainer's version. A service frozen for good is named within its deadline."""

from __future__ import annotations

import copy
import json
import logging
import signal
import threading
import time

import pytest
import torch
from safetensors.torch import load_file

from pipelines.common import metrics_path, read_jsonl
from pipelines.ppo import Trainer, train_ppo
from rlhf.clients.base import ServiceError
from rlhf.clients.data_store import DataStoreClient
from rlhf.clients.reward_scoring import RewardScoringClient
from rlhf.config import ClientConfig
from tests.faults.conftest import kill, restarted, wait_for
from tests.integration.stack import tiny_ppo

STEPS = 3
TIMING = {"time_generate", "time_score_reference", "time_forward", "time_train", "time_push", "step_seconds", "time"}


def ppo_config(supervised, tiny_models, out, run_name: str, **overrides):
    _, config = supervised
    config = tiny_ppo(copy.deepcopy(config), tiny_models, out, run_name=run_name,
                      **{"steps": STEPS, "bf16_autocast": False, **overrides})
    config.clients.backoff_s, config.clients.max_backoff_s = 0.2, 1.0
    return config


def weights(path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def undisturbed(supervised, tiny_models, tmp_path_factory) -> tuple[dict[str, torch.Tensor], list[dict]]:
    out = tmp_path_factory.mktemp("undisturbed") / "ppo"
    train_ppo(ppo_config(supervised, tiny_models, out, "undisturbed"))
    return weights(out), read_jsonl(metrics_path(out))


def request_waiting(port: int) -> bool:
    """Whether a request waits unread in a socket of the (frozen) server on `port`: more bytes than
    the HTTP/2 PING and WINDOW_UPDATE frames (17 and 13 bytes) a client sends between calls."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):  # the servers' sockets are dual-stack
        for line in open(table).read().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and int(fields[4].split(":")[1], 16) > 40:
                return True
    return False


def stop_then_kill(proc) -> None:
    """SIGSTOP, then SIGKILL once a call of the trainer waits in its socket: a service killed
    between two calls can be back before the next one (the trainer would never see it gone)."""
    kill(proc, signal.SIGSTOP)
    wait_for(lambda: request_waiting(proc.port), 60, f"a call to the frozen {proc.name}")
    kill(proc, signal.SIGKILL)


def run_with_fault(supervised, tiny_models, out, name: str, fault) -> tuple[float, float]:
    """Runs PPO; once step 1 is logged, `fault(process)` hits service `name`. Returns (when the
    fault hit, when the run ended) on the monotonic clock."""
    supervisor, _ = supervised
    config = ppo_config(supervised, tiny_models, out, f"fault-{name}")
    log = metrics_path(out)
    hit: list[float] = []

    def inject() -> None:
        wait_for(lambda: log.exists() and log.read_text().count("\n") >= 1, 120, "step 1 logged")
        fault(supervisor[name])
        hit.append(time.monotonic())

    injector = threading.Thread(target=inject, daemon=True)
    injector.start()
    train_ppo(config)
    ended = time.monotonic()
    injector.join(10)
    assert hit, "the fault was never injected"
    return hit[0], ended


@pytest.mark.parametrize("name", ["data-store", "policy-inference", "reference-kl", "reward-scoring"])
def test_a_killed_service_is_restarted_and_the_run_ends_with_undisturbed_weights(
        supervised, tiny_models, undisturbed, tmp_path, caplog, name):
    supervisor, _ = supervised
    before = supervisor[name]
    caplog.set_level(logging.WARNING, logger="rlhf.clients")
    hit, ended = run_with_fault(supervised, tiny_models, tmp_path / "ppo", name, stop_then_kill)
    assert hit < ended, "the kill landed after the run"
    after = restarted(supervisor, name, before)
    assert after.port == before.port and after.proc.pid != before.proc.pid
    # The trainer's call failed with the service and was retried until it was back.
    assert any(r.getMessage().startswith(f"{name}.") and " retry 1 in " in r.getMessage()
               for r in caplog.records), caplog.text
    assert same_weights(weights(tmp_path / "ppo"), undisturbed[0])


def test_a_frozen_service_stalls_the_run_but_not_its_result(supervised, tiny_models, undisturbed, tmp_path):
    def freeze(proc) -> None:
        kill(proc, signal.SIGSTOP)
        threading.Timer(3.0, kill, (proc, signal.SIGCONT)).start()

    hit, ended = run_with_fault(supervised, tiny_models, tmp_path / "ppo", "reference-kl", freeze)
    assert ended - hit >= 3.0, "the run finished before the frozen service was needed"
    assert same_weights(weights(tmp_path / "ppo"), undisturbed[0])


def test_a_restarted_policy_inference_is_resampled_from_the_pushed_version(
        supervised, tiny_models, undisturbed, tmp_path, capsys):
    supervisor, _ = supervised
    trainer = Trainer(ppo_config(supervised, tiny_models, tmp_path / "ppo", "repush"))
    try:
        trainer.check_tokenizers()
        trainer.push_weights()
        first = trainer.train_step()  # ends with the push of the step's policy
        old = supervisor["policy-inference"]
        kill(old)
        restarted(supervisor, "policy-inference", old)  # back with its initial weights, version 0
        second = trainer.train_step()
    finally:
        trainer.close()
    assert f"answered from weights version 0, not {first['policy_version']}" in capsys.readouterr().out
    # Sampled again from the trainer's weights: step 2 is the undisturbed run's step 2, number for
    # number (sampling from the initial weights would change its log-prob drift, rewards, losses).
    for row, expected in zip((first, second), undisturbed[1][:2]):
        keys = set(row) - TIMING - {"policy_version"}
        assert {k: row[k] for k in keys} == {k: expected[k] for k in keys}
    assert second["policy_version"] == first["policy_version"] + 2  # the re-push, then the step's own


def test_a_resumed_run_does_not_repeat_metrics_rows(supervised, tiny_models, tmp_path):
    _, config = supervised
    out = tmp_path / "ppo"
    train_ppo(ppo_config(supervised, tiny_models, out, "dedup", steps=3, keep_checkpoints=2))
    # As if the trainer died after logging step 3 but before its checkpoint: latest is step 2's.
    with DataStoreClient(f"127.0.0.1:{config.services.data_store.port}") as store:
        assert store.list("checkpoints/dedup/step-000002/")  # kept (keep_checkpoints=2)
        store.put("checkpoints/dedup/latest.json",
                  json.dumps({"step": 2, "key": "checkpoints/dedup/step-000002", "world": 1}).encode())
    train_ppo(ppo_config(supervised, tiny_models, out, "dedup", steps=3, resume=True))
    assert [row["step"] for row in read_jsonl(metrics_path(out))] == [1, 2, 3]


def test_a_service_frozen_for_good_is_named_within_its_deadline(supervised):
    supervisor, _ = supervised
    proc = supervisor["reward-scoring"]
    clients = ClientConfig(attempt_timeout_s=1.0, score_s_per_sequence=0.0, retry_budget_s=2.0, backoff_s=0.2)
    with RewardScoringClient(proc.target, clients) as client:
        client.score(["Say hi."], ["Hi."])  # connected, as a trainer is when its service freezes
        kill(proc, signal.SIGSTOP)
        try:
            start = time.monotonic()
            with pytest.raises(ServiceError, match=r"reward-scoring\.Score at .* DEADLINE_EXCEEDED.*frozen"):
                client.score(["Say hi."], ["Hi."])
            elapsed = time.monotonic() - start
        finally:
            kill(proc, signal.SIGCONT)
    # One attempt, retries for the 2 s budget, and the attempt under way when it ran out.
    assert 3.0 <= elapsed < 8.0, elapsed
