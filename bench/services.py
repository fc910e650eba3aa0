"""Service overhead, measured side by side in one run.

1. Generate tokens/s through gRPC vs the same model and batch called in-process (target >= 0.9).
2. Score items/s at 16 concurrent callers, one item per request: server-side batching on vs off
   (max_batch_size 1) (target >= 3).
3. The label stage's batch, K completions of each prompt: the prompt prefilled once and shared by
   its K rows vs K prompts of the same length prefilled apart.
4. The services' numeric path: a PPO step's Generate, Score and LogProbs through services with
   bf16 autocast (the default where the CPU computes bf16 natively) vs `--no-bf16-autocast`.
5. generate_batch under bf16 autocast: the Linear weights cast once per batch
   (`linear_weights_cast_once`) vs at every forward, as autocast alone does (same samples).

    python bench/services.py            # SmolLM2-135M, the demo's model
    python bench/services.py --tiny     # 2-layer random Llama: checks the harness in seconds
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.common import model_dirs, timed_callers  # noqa: E402
from pipelines.processes import ServiceProcess as Service  # noqa: E402
from rlhf.clients.policy_inference import PolicyInferenceClient  # noqa: E402
from rlhf.clients.reference_kl import ReferenceKLClient  # noqa: E402
from rlhf.clients.reward_scoring import RewardScoringClient  # noqa: E402
from rlhf.device import autocast, bf16_is_fast  # noqa: E402
from rlhf.models import load_policy, load_reward_model, load_tokenizer  # noqa: E402
from rlhf.models import generation  # noqa: E402
from rlhf.models.generation import GenerationItem, SamplingParams, generate_batch  # noqa: E402
from rlhf.models.scoring import instruction_ids, reward_inputs, score_texts  # noqa: E402

PROMPTS = ["Describe the sea in under 20 words.", "Give exactly 3 bullet points about bread.",
           "Explain rain to a child, all in lowercase.", "Name two uses of copper.",
           "What is a bicycle good for? End with 'ride on'.", "Summarise winter in one sentence.",
           "Why do cats purr? Mention the word 'vibration'.", "List 2 facts about forests."]


def bench_generate(policy_dir: Path, max_new_tokens: int, repeats: int) -> tuple[float, float]:
    tokenizer = load_tokenizer(policy_dir)
    model = load_policy(policy_dir)
    prompt_ids = instruction_ids(tokenizer, PROMPTS)
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=1.0)
    items = [GenerationItem(ids, params, (7, i, 0)) for i, ids in enumerate(prompt_ids)]
    service = Service("policy-inference", "--model", str(policy_dir), "--max-batch-size", str(len(PROMPTS)))
    local_rates, grpc_rates = [], []
    try:
        with PolicyInferenceClient(service.target, timeout=600) as client:
            client.generate(prompt_ids=prompt_ids[:1], max_new_tokens=2)  # warm-up
            for _ in range(repeats):  # interleaved, so drift in machine load hits both sides
                start = time.perf_counter()
                with autocast(True):  # the service's numeric path (bf16_autocast defaults to true)
                    local = generate_batch(model, items, eos_token_id=tokenizer.eos_token_id,
                                           pad_token_id=tokenizer.pad_token_id)
                local_rates.append(sum(len(c.token_ids) for c in local) / (time.perf_counter() - start))
                start = time.perf_counter()
                remote = client.generate(prompt_ids=prompt_ids, max_new_tokens=max_new_tokens, temperature=1.0,
                                         seed=7)
                grpc_rates.append(sum(len(c) for c in remote.completion_ids) / (time.perf_counter() - start))
    finally:
        service.terminate()
    return statistics.median(local_rates), statistics.median(grpc_rates)


def bench_shared_prefill(policy_dir: Path, k: int, max_new_tokens: int, repeats: int) -> tuple[float, float]:
    """Seconds (median) of one generate_batch over the prompts x k rows the label stage sends: with
    each prompt repeated k times (prefilled once) vs each copy made distinct by one token (same
    lengths, so the same decode work, but k prefills)."""
    tokenizer = load_tokenizer(policy_dir)
    model = load_policy(policy_dir)
    prompt_ids = instruction_ids(tokenizer, PROMPTS)
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=1.0)
    shared = [GenerationItem(ids, params, (7, i, j)) for i, ids in enumerate(prompt_ids) for j in range(k)]
    apart = [GenerationItem([*ids[:-1], (ids[-1] + j) % tokenizer.vocab_size], params, (7, i, j))
             for i, ids in enumerate(prompt_ids) for j in range(k)]
    times: dict[str, list[float]] = {"shared": [], "apart": []}
    generate_batch(model, shared[:2], eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    for _ in range(repeats):  # interleaved, as above
        for name, items in (("shared", shared), ("apart", apart)):
            start = time.perf_counter()
            # eos_token_id -1: every row runs max_new_tokens, so both sides decode the same tokens.
            generate_batch(model, items, eos_token_id=-1, pad_token_id=tokenizer.pad_token_id)
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["shared"]), statistics.median(times["apart"])


def bench_cast_once(policy_dir: Path, prompts: int, max_new_tokens: int, repeats: int) -> tuple[float, float]:
    """Seconds (median) of one generate_batch of a PPO step's shape (`prompts` rows, every row
    running `max_new_tokens`) under bf16 autocast: weights cast once per batch vs at every forward
    (the module's `linear_weights_cast_once` swapped for a no-op), interleaved."""
    tokenizer = load_tokenizer(policy_dir)
    model = load_policy(policy_dir)
    prompt_ids = instruction_ids(tokenizer, [PROMPTS[i % len(PROMPTS)] for i in range(prompts)])
    items = [GenerationItem(ids, SamplingParams(max_new_tokens, temperature=1.0), (7, i, 0))
             for i, ids in enumerate(prompt_ids)]
    cast_once = generation.linear_weights_cast_once
    times: dict[str, list[float]] = {"once": [], "every forward": []}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        generate_batch(model, items[:2], eos_token_id=-1, pad_token_id=tokenizer.pad_token_id)
        try:
            for _ in range(repeats):
                for name in times:
                    generation.linear_weights_cast_once = (
                        cast_once if name == "once" else lambda model: contextlib.nullcontext())
                    start = time.perf_counter()
                    generate_batch(model, items, eos_token_id=-1, pad_token_id=tokenizer.pad_token_id)
                    times[name].append(time.perf_counter() - start)
        finally:
            generation.linear_weights_cast_once = cast_once
    return statistics.median(times["once"]), statistics.median(times["every forward"])


def score_ceiling(rm_dir: Path, items: int = 16) -> float:
    """In-process items/s of one batch of 16 over 16 batches of 1: the most batching can give on
    this hardware (on a CPU already saturated by one item it is small)."""
    model, tokenizer = load_reward_model(rm_dir), load_tokenizer(rm_dir)
    texts = [reward_inputs(tokenizer, PROMPTS[i % len(PROMPTS)], f"An answer, number {i}.") for i in range(items)]
    score_texts(model, tokenizer, texts[:2], 2048)  # warm-up
    start = time.perf_counter()
    for text in texts:
        score_texts(model, tokenizer, [text], 2048)
    one_by_one = time.perf_counter() - start
    start = time.perf_counter()
    score_texts(model, tokenizer, texts, 2048)
    return one_by_one / (time.perf_counter() - start)


def bench_score(rm_dir: Path, callers: int, per_caller: int, batching: bool, wait_ms: float) -> float:
    args = ["--model", str(rm_dir), "--max-batch-size", "16" if batching else "1", "--batch-wait-ms", str(wait_ms)]
    service = Service("reward-scoring", *args)
    try:
        clients = [RewardScoringClient(service.target, timeout=600) for _ in range(callers)]
        clients[0].score(["warm"], ["up"])

        def caller(i: int) -> None:
            for j in range(per_caller):
                clients[i].score([PROMPTS[(i + j) % len(PROMPTS)]], [f"An answer of caller {i}, number {j}."])
        elapsed = timed_callers(callers, caller)
        for c in clients:
            c.close()
    finally:
        service.terminate()
    return callers * per_caller / elapsed


def bench_numeric_path(policy_dir: Path, rm_dir: Path, prompts: int, max_new_tokens: int,
                       repeats: int) -> dict[str, tuple[float, float]]:
    """{call: (fp32 s, bf16 s)}, medians, of a PPO step's three calls: Generate (`prompts` prompts,
    at most `max_new_tokens` each), then Score and LogProbs of those completions (each path its own
    samples), reward-scoring and reference-kl on one torch thread as the embedded runner starts
    them. fp32 and bf16 services run side by side, called in turn."""
    tokenizer = load_tokenizer(policy_dir)
    texts = [PROMPTS[i % len(PROMPTS)] for i in range(prompts)]
    prompt_ids = instruction_ids(tokenizer, texts)
    services = {(name, path): Service(name, "--model", str(model), *flags, *threads)
                for name, model, threads in (("policy-inference", policy_dir, ()),
                                             ("reward-scoring", rm_dir, ("--torch-threads", "1")),
                                             ("reference-kl", policy_dir, ("--torch-threads", "1")))
                for path, flags in (("fp32", ["--no-bf16-autocast"]), ("bf16", []))}
    times: dict[str, dict[str, list[float]]] = {call: {"fp32": [], "bf16": []}
                                                for call in ("Generate", "Score", "LogProbs")}
    try:
        for _ in range(repeats):
            for path in ("fp32", "bf16"):
                with PolicyInferenceClient(services["policy-inference", path].target, timeout=600) as policy, \
                        RewardScoringClient(services["reward-scoring", path].target, timeout=600) as reward, \
                        ReferenceKLClient(services["reference-kl", path].target, timeout=600) as reference:
                    start = time.perf_counter()
                    gen = policy.generate(prompt_ids=prompt_ids, max_new_tokens=max_new_tokens, temperature=1.0, seed=7)
                    times["Generate"][path].append(time.perf_counter() - start)
                    start = time.perf_counter()
                    reward.score(texts, gen.texts)
                    times["Score"][path].append(time.perf_counter() - start)
                    completions = [c.tolist() for c in gen.completion_ids]
                    start = time.perf_counter()
                    reference.logprobs([p + c for p, c in zip(prompt_ids, completions)], [len(p) for p in prompt_ids])
                    times["LogProbs"][path].append(time.perf_counter() - start)
    finally:
        for service in services.values():
            service.terminate()
    return {call: (statistics.median(t["fp32"]), statistics.median(t["bf16"])) for call, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny random models instead of SmolLM2-135M")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--k", type=int, default=4, help="completions per prompt in the label batch")
    parser.add_argument("--score-requests", type=int, default=8, help="requests per caller")
    parser.add_argument("--batch-wait-ms", type=float, default=5.0, help="reward-scoring's batch wait when batching")
    args = parser.parse_args()
    policy_dir, rm_dir = model_dirs(args.tiny)
    print(f"model: {'tiny random Llama' if args.tiny else 'SmolLM2-135M'}; torch threads {torch.get_num_threads()}")

    local, remote = bench_generate(policy_dir, args.max_new_tokens, args.repeats)
    print(f"Generate ({len(PROMPTS)} prompts x {args.max_new_tokens} new tokens, median of {args.repeats}):")
    print(f"  in-process {local:8.1f} tok/s   gRPC {remote:8.1f} tok/s   ratio {remote / local:.2f}  (target >= 0.9)")

    shared, apart = bench_shared_prefill(policy_dir, args.k, args.max_new_tokens, args.repeats)
    print(f"Label batch ({len(PROMPTS)} prompts x K={args.k} x {args.max_new_tokens} new tokens, "
          f"median of {args.repeats}):")
    print(f"  prompt prefilled once {shared:6.2f} s   K times {apart:6.2f} s   speed-up {apart / shared:.2f}x")

    on = bench_score(rm_dir, 16, args.score_requests, batching=True, wait_ms=args.batch_wait_ms)
    off = bench_score(rm_dir, 16, args.score_requests, batching=False, wait_ms=0)
    ceiling = score_ceiling(rm_dir)
    print(f"Score (16 concurrent callers x {args.score_requests} single-item requests):")
    print(f"  batching on {on:8.1f} items/s   off {off:8.1f} items/s   ratio {on / off:.2f}  (target >= 3)")
    print(f"  ceiling on this machine: one batch of 16 vs 16 of 1, in-process: {ceiling:.2f}x")

    calls = bench_numeric_path(policy_dir, rm_dir, 16, 40, args.repeats)
    print(f"A PPO step's calls, 16 prompts x 40 tokens (median of {args.repeats}), services in fp32 vs "
          f"bf16 autocast ({'native bf16 here' if bf16_is_fast() else 'no native bf16 here: both run fp32'}):")
    for call, (fp32, bf16) in calls.items():
        print(f"  {call:9s} fp32 {fp32:6.2f} s   bf16 {bf16:6.2f} s   speed-up {fp32 / bf16:.2f}x")

    once, every = bench_cast_once(policy_dir, 16, 40, args.repeats)
    print(f"generate_batch under bf16 autocast, 16 prompts x 40 tokens (median of {args.repeats}):")
    print(f"  weights cast once {once:6.2f} s   at every forward {every:6.2f} s   speed-up {every / once:.2f}x")


if __name__ == "__main__":
    main()
