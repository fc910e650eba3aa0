"""Issue 12's cases, measured on tiny models on loopback (the models the issue's figures came from):
times to detect a dead or frozen service, to recover from a restart, and to refuse hostile input.

    python bench/faults.py          # about two minutes on 2 cores; prints one line per case as JSON

Each line: {"case", "seconds" (or the numbers the case has), "before" (the issue's figure)}.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
from collections import Counter
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpc  # noqa: E402
import httpx  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

from bench.common import model_dirs  # noqa: E402
from pipelines.processes import ServiceProcess, Supervisor  # noqa: E402
from rlhf.clients.base import ServiceError  # noqa: E402
from rlhf.clients.data_store import DataStoreClient  # noqa: E402
from rlhf.clients.policy_inference import PolicyInferenceClient  # noqa: E402
from rlhf.clients.reference_kl import ReferenceKLClient  # noqa: E402
from rlhf.clients.reward_scoring import RewardScoringClient  # noqa: E402
from rlhf.config import ClientConfig  # noqa: E402
from rlhf.models import load_policy  # noqa: E402
from rlhf.proto.v1 import data_store_pb2, policy_inference_pb2, reward_scoring_pb2  # noqa: E402

JSON = {"content-type": "application/json"}
CLIENTS = {"data-store": DataStoreClient, "policy-inference": PolicyInferenceClient,
           "reference-kl": ReferenceKLClient, "reward-scoring": RewardScoringClient}


def report(case: str, before: str, **numbers) -> None:
    print(json.dumps({"case": case, **{k: round(v, 3) if isinstance(v, float) else v for k, v in numbers.items()},
                      "before": before}), flush=True)


def health_seconds(target: str) -> float:
    start = time.perf_counter()
    with grpc.insecure_channel(target) as channel:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=60)
    return time.perf_counter() - start


def raw(target: str, method: str, payload: bytes) -> tuple[str, float]:
    with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 256 << 20)]) as channel:
        start = time.perf_counter()
        try:
            channel.unary_unary(method)(payload, timeout=300)
            code = "OK"
        except grpc.RpcError as exc:
            code = exc.code().name
    return code, time.perf_counter() - start


def restarts(supervisor: Supervisor, policy_dir: Path) -> None:
    """SIGKILL each service while a client calls it in a loop: when the supervisor reports it, when
    it listens again, when the client's next call succeeds (default ClientConfig)."""
    for name, proc in list(supervisor.services.items()):
        with CLIENTS[name](proc.target, ClientConfig()) as client:
            client.info()
            crashes = supervisor.restarts.get(name, 0)
            killed = time.monotonic()
            os.kill(proc.proc.pid, signal.SIGKILL)
            while supervisor.restarts.get(name, 0) == crashes:  # counted as the report is printed
                time.sleep(0.01)
            reported = time.monotonic() - killed
            while supervisor[name] is proc:
                time.sleep(0.01)
            listening = time.monotonic() - killed
            client.info()  # retried within the budget until the service is back
            recovered = time.monotonic() - killed
        report(f"SIGKILL {name}: reported, listening again, client call succeeds", "the run failed 3-4 s "
               "later (rlhf run: not restarted; a reference-kl killed at start failed the run 18 s later)",
               reported_s=reported, listening_s=listening, recovered_s=recovered)

    # Issue case 1: policy-inference restarted between a push and the next Generate.
    state = load_policy(policy_dir).state_dict()
    with PolicyInferenceClient(supervisor["policy-inference"].target) as client:
        pushed = client.update_weights(state, dtype="bfloat16")
        proc = supervisor["policy-inference"]
        killed = time.monotonic()
        os.kill(proc.proc.pid, signal.SIGKILL)
        gen = client.generate_pinned(lambda: state, "bfloat16", prompts=["Say hi."], max_new_tokens=4, seed=1)
        report("policy-inference restarted after a push: Generate re-pushed and resampled",
               "a whole step sampled from the initial weights, no warning",
               seconds=time.monotonic() - killed, pushed=pushed, sampled_from=gen.policy_version)


def freeze(supervisor: Supervisor) -> None:
    proc = supervisor["reward-scoring"]
    for attempt_s, budget_s in ((2.0, 4.0), (30.0, 0.0)):
        clients = ClientConfig(attempt_timeout_s=attempt_s, score_s_per_sequence=0.1, retry_budget_s=budget_s)
        with RewardScoringClient(proc.target, clients) as client:
            client.score(["Say hi."], ["Hi."])
            os.kill(proc.proc.pid, signal.SIGSTOP)
            start = time.monotonic()
            try:
                client.score(["Say hi."], ["Hi."])
            except ServiceError as exc:
                error = str(exc)[:160]
            finally:
                os.kill(proc.proc.pid, signal.SIGCONT)
        report(f"reward-scoring frozen (SIGSTOP), attempt {attempt_s:g}s, budget {budget_s:g}s: error naming it",
               "stalled 80 s with no output; by the code ~20 min (300 s x 4)",
               seconds=time.monotonic() - start, error=error)


def hostile(services: dict[str, ServiceProcess]) -> None:
    ten_mb = "x" * 10_000_000
    cases = [
        ("policy-inference", "/rlhf.v1.PolicyInference/Generate", policy_inference_pb2.GenerateRequest(
            prompts=[ten_mb], sampling=policy_inference_pb2.SamplingParams(max_new_tokens=1)),
         "10 MB prompt to Generate", "13.6 s, event loop frozen"),
        ("reward-scoring", "/rlhf.v1.RewardScoring/Score", reward_scoring_pb2.ScoreRequest(
            prompts=[ten_mb], completions=["Hi"]), "10 MB prompt to Score", "26.8 s, event loop frozen"),
        ("reward-scoring", "/rlhf.v1.RewardScoring/Score", reward_scoring_pb2.ScoreRequest(
            prompts=["a"] * 100_000, completions=["b"] * 100_000), "100k pairs to Score",
         "all tokenized before the queue check"),
        ("data-store", "/rlhf.v1.DataStore/Get", data_store_pb2.GetRequest(key="k" * 1024),
         "1,024-character key", "INTERNAL naming the server's path"),
        ("data-store", "/rlhf.v1.DataStore/SampleRecords", data_store_pb2.SampleRecordsRequest(
            set="x", n=1, cursor=2**64 - 1), "cursor 2^64-1", "INTERNAL"),
        ("data-store", "/rlhf.v1.DataStore/PutRecords", data_store_pb2.PutRecordsRequest(
            set="x", kind=data_store_pb2.RECORD_KIND_PROMPTS, jsonl=b"[" * 100_000 + b"]" * 100_000),
         "100k-deep JSON", "INTERNAL"),
    ]
    for name, method, request, case, before in cases:
        code, seconds = raw(services[name].target, method, request.SerializeToString())
        report(case, before, code=code, seconds=seconds, health_after_s=health_seconds(services[name].target))
    code, seconds = raw(services["policy-inference"].target, "/rlhf.v1.PolicyInference/Generate", b"\xff\xff\xff")
    report("malformed protobuf", "UNKNOWN: Unexpected DecodeError", code=code, seconds=seconds)

    # Health during a heavy (valid-sized) Score: 300 completions of 30k characters.
    target = services["reward-scoring"].target
    heavy = reward_scoring_pb2.ScoreRequest(prompts=["Say hi."] * 300, completions=["word " * 6000] * 300)
    done: list[tuple[str, float]] = []
    caller = threading.Thread(target=lambda: done.append(raw(target, "/rlhf.v1.RewardScoring/Score",
                                                             heavy.SerializeToString())))
    caller.start()
    probes = []
    while caller.is_alive():
        probes.append(health_seconds(target))
        time.sleep(0.05)
    report("health during a 9 MB Score being tokenized", "40 of 42 health probes failed (6 MB REST body)",
           call_s=done[0][1], probes=len(probes), worst_probe_s=max(probes))

    policy = services["policy-inference"]
    with PolicyInferenceClient(policy.target, retries=0) as client:
        nan = {k: v.clone().fill_(float("nan")) for k, v in load_policy(client.info().model_name).state_dict().items()}
        try:
            client.update_weights(nan, version=99)
            outcome = "OK"
        except ServiceError as exc:
            outcome = exc.code.name
        report("UpdateWeights all-NaN", "accepted (NaN log-probs)", code=outcome)


def kserve(reward_dir: Path) -> None:
    proc = ServiceProcess("reward-kserve", "--model", str(reward_dir), "--max-queue", "8", "--max-batch-size", "1",
                          "--batch-wait-ms", "0", timeout=300)
    http = "http://" + proc.output.split(" http ")[1].split()[0] if proc.output else ""
    try:
        with httpx.Client(base_url=http, timeout=300, headers=JSON) as client:
            bad = json.dumps({"inputs": [{"name": "prompt", "shape": [f"secret-{i}" for i in range(100_000)],
                                          "datatype": "BYTES", "data": ["Say hi."]}]})
            start = time.perf_counter()
            reply = client.post("/v2/models/reward/infer", content=bad)
            report(f"REST {len(bad) / 1e6:.1f} MB malformed body", "19 s and a 61 MB error body echoing the input",
                   status=reply.status_code, seconds=time.perf_counter() - start, error_bytes=len(reply.content))
            for size_mb in (6, 112):
                body = json.dumps({"inputs": [{"name": "prompt", "shape": [1], "datatype": "BYTES",
                                               "data": ["x" * (size_mb << 20)]},
                                              {"name": "completion", "shape": [1], "datatype": "BYTES", "data": ["y"]}]})
                start = time.perf_counter()
                reply = client.post("/v2/models/reward/infer", content=body)
                report(f"REST {size_mb} MB body", "6 MB: server blocked 101 s; 112 MiB: OOM-killed",
                       status=reply.status_code, seconds=time.perf_counter() - start,
                       health_after_s=health_seconds(proc.target))
        payload = json.dumps({"inputs": [{"name": "prompt", "shape": [1], "datatype": "BYTES", "data": ["Say hi."]},
                                         {"name": "completion", "shape": [1], "datatype": "BYTES", "data": ["Hi"]}]})

        def one(_: int) -> tuple[int, float]:
            with httpx.Client(base_url=http, timeout=300, headers=JSON) as c:
                start = time.perf_counter()
                status = c.post("/v2/models/reward/infer", content=payload).status_code
                return status, time.perf_counter() - start

        with ThreadPoolExecutor(64) as pool:
            results = list(pool.map(one, range(1000)))
        refused = sorted(seconds for status, seconds in results if status == 429)
        report("REST burst of 1,000 requests, 64 at a time (max_queue 8)", "429s took 8.4 s median (decided in 3 ms)",
               statuses=dict(Counter(status for status, _ in results)),
               median_429_s=statistics.median(refused) if refused else None,
               median_200_s=statistics.median([s for status, s in results if status == 200] or [0.0]))
    finally:
        proc.terminate()


def main() -> None:
    policy_dir, reward_dir = model_dirs(tiny=True)
    store = Path(tempfile.mkdtemp()) / "store"
    logs = Path(tempfile.mkdtemp())
    with Supervisor() as supervisor:
        for name, args in (("data-store", ["--store", f"file://{store}"]),
                           ("policy-inference", ["--model", str(policy_dir)]),
                           ("reference-kl", ["--model", str(policy_dir)]),
                           ("reward-scoring", ["--model", str(reward_dir)])):
            supervisor.services[name] = ServiceProcess(name, *args, timeout=300, log_path=logs / f"{name}.log")
        restarts(supervisor, policy_dir)
        freeze(supervisor)
        hostile(supervisor.services)
    kserve(reward_dir)


if __name__ == "__main__":
    main()
