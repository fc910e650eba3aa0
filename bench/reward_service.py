"""The reward service for other teams (reward-kserve), as they call it: Open Inference Protocol
gRPC, one (prompt, completion) pair per request, from 1, 8 and 32 concurrent callers, with dynamic
batching on (max batch size 32, a few ms of wait) vs off (max batch size 1). Prints items/s and
p50/p99 latency side by side, and the on/off ratio, for each number of callers.

    python bench/reward_service.py            # a reward model on SmolLM2-135M's trunk, the demo's size
    python bench/reward_service.py --tiny     # 2-layer random Llama: checks the harness in seconds
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpc  # noqa: E402
import torch  # noqa: E402
from kserve.protocol.grpc import grpc_predict_v2_pb2 as oip  # noqa: E402
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as oip_grpc  # noqa: E402

from bench.common import model_dirs, timed_callers  # noqa: E402
from bench.services import PROMPTS  # noqa: E402
from pipelines.processes import ServiceProcess as Service  # noqa: E402

CALLERS = (1, 8, 32)


def request(prompt: str, completion: str) -> oip.ModelInferRequest:
    def tensor(name: str, text: str) -> oip.ModelInferRequest.InferInputTensor:
        return oip.ModelInferRequest.InferInputTensor(
            name=name, datatype="BYTES", shape=[1], contents=oip.InferTensorContents(bytes_contents=[text.encode()]))
    return oip.ModelInferRequest(model_name="reward", inputs=[tensor("prompt", prompt), tensor("completion", completion)])


def run_callers(target: str, callers: int, per_caller: int) -> tuple[float, list[float]]:
    """(items/s, every request's latency in seconds); each caller has its own channel."""
    channels = [grpc.insecure_channel(target) for _ in range(callers)]
    stubs = [oip_grpc.GRPCInferenceServiceStub(channel) for channel in channels]
    latencies: list[float] = []

    def warm_up(i: int) -> None:  # connects before the clock starts
        stubs[i].ModelInfer(request("warm", "up"), timeout=600)

    def caller(i: int) -> None:
        for j in range(per_caller):
            start = time.perf_counter()
            stubs[i].ModelInfer(request(PROMPTS[(i + j) % len(PROMPTS)], f"An answer of caller {i}, number {j}."),
                                timeout=600)
            latencies.append(time.perf_counter() - start)

    elapsed = timed_callers(callers, caller, prepare=warm_up)
    for channel in channels:
        channel.close()
    return callers * per_caller / elapsed, latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def bench(rm_dir: Path, batching: bool, args: argparse.Namespace) -> dict[int, tuple[float, float, float]]:
    """callers -> (items/s, p50 ms, p99 ms) on one server."""
    size, wait = (args.max_batch_size, args.batch_wait_ms) if batching else (1, 0)
    # A queue no benchmark fills: this measures batching, not load shedding.
    service = Service("reward-kserve", "--model", str(rm_dir), "--max-batch-size", str(size),
                      "--batch-wait-ms", str(wait), "--max-queue", "100000")
    results = {}
    try:
        run_callers(service.target, 8, 4)  # warm-up: the first batches of each shape are slow
        for callers in CALLERS:
            per_caller = max(args.min_requests, args.items // callers)
            rate, latencies = run_callers(service.target, callers, per_caller)
            results[callers] = (rate, percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000)
    finally:
        service.terminate()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny random models instead of SmolLM2-135M")
    parser.add_argument("--items", type=int, default=128, help="requests per caller level, split among the callers")
    parser.add_argument("--min-requests", type=int, default=4, help="requests per caller at the least")
    parser.add_argument("--max-batch-size", type=int, default=32, help="max batch size when batching is on")
    parser.add_argument("--batch-wait-ms", type=float, default=5.0, help="batch wait when batching is on")
    args = parser.parse_args()
    _, rm_dir = model_dirs(args.tiny)
    print(f"model: {'tiny random Llama' if args.tiny else 'SmolLM2-135M trunk'}; torch threads "
          f"{torch.get_num_threads()}; OIP gRPC, 1 pair per request; batching on = max batch "
          f"{args.max_batch_size}, wait {args.batch_wait_ms:g} ms; off = max batch 1")
    on, off = bench(rm_dir, True, args), bench(rm_dir, False, args)
    print(f"{'callers':>7} | {'batching on: items/s':>20} {'p50 ms':>8} {'p99 ms':>8} | "
          f"{'off: items/s':>12} {'p50 ms':>8} {'p99 ms':>8} | {'on/off items/s':>14}")
    for callers in CALLERS:
        (rate_on, p50_on, p99_on), (rate_off, p50_off, p99_off) = on[callers], off[callers]
        print(f"{callers:>7} | {rate_on:>20.1f} {p50_on:>8.1f} {p99_on:>8.1f} | "
              f"{rate_off:>12.1f} {p50_off:>8.1f} {p99_off:>8.1f} | {rate_on / rate_off:>14.2f}")


if __name__ == "__main__":
    main()
