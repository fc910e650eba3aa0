"""Rollout throughput: Generate tokens/s through gRPC, policy-inference `--engine vllm` vs `--engine
hf`, side by side in one run (both servers up, measurements interleaved so drift in the machine's
load hits both), at 8 and 32 concurrent callers, each asking one prompt x 64 new tokens.

    .venv-vllm/bin/python bench/rollout.py           # SmolLM2-135M-Instruct (make vllm-env first)
    .venv-vllm/bin/python bench/rollout.py --tiny    # 2-layer random Llama: checks the harness

Runs in the vLLM environment, where both engines run (the hf engine needs only transformers).
Tokens counted are those generated (a completion may stop at EOS before 64).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import timed_callers  # noqa: E402
from pipelines.processes import ServiceProcess as Service  # noqa: E402
from rlhf.clients.policy_inference import PolicyInferenceClient  # noqa: E402
from rlhf.models import load_tokenizer  # noqa: E402
from rlhf.models.scoring import instruction_ids  # noqa: E402

PROMPTS = ["Describe the sea in under 20 words.", "Give exactly 3 bullet points about bread.",
           "Explain rain to a child, all in lowercase.", "Name two uses of copper.",
           "What is a bicycle good for? End with 'ride on'.", "Summarise winter in one sentence.",
           "Why do cats purr? Mention the word 'vibration'.", "List 2 facts about forests."]
ENGINES = ("hf", "vllm")


def policy_dir(tiny: bool) -> Path:
    from rlhf.models import smollm2

    if tiny:
        import tempfile

        from rlhf.models.tiny import make_tiny_models

        return make_tiny_models(tempfile.mkdtemp(), smollm2.tokenizer_dir(),
                                num_attention_heads=2, num_key_value_heads=1)["policy"]
    from pipelines.common import resolve_model

    return resolve_model("smollm2")


def rollout(client: PolicyInferenceClient, prompt_ids: list[list[int]], callers: int, new_tokens: int,
            seed: int, eos: int) -> tuple[float, int, int]:
    """(tokens/s, tokens, completions that stopped at EOS) for `callers` concurrent one-prompt calls."""
    results: dict[int, object] = {}

    def work(i: int) -> None:
        results[i] = client.generate(prompt_ids=[prompt_ids[i % len(prompt_ids)]], max_new_tokens=new_tokens,
                                     temperature=1.0, seed=seed * 1000 + i)

    seconds = timed_callers(callers, work)
    tokens = stops = 0
    for gen in results.values():
        ids, reason = gen.completion_ids[0], gen.finish_reasons[0]
        assert (reason == "stop") == (int(ids[-1]) == eos), (reason, ids[-5:])  # STOP iff EOS, kept in the ids
        tokens += len(ids)
        stops += reason == "stop"
    return tokens / seconds, tokens, stops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--callers", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    model = policy_dir(args.tiny)
    tokenizer = load_tokenizer(model)
    prompt_ids = instruction_ids(tokenizer, PROMPTS)
    servers, clients = {}, {}
    try:
        for engine in ENGINES:
            servers[engine] = Service("policy-inference", "--model", str(model), "--engine", engine,
                                      "--max-batch-size", str(max(args.callers)),
                                      "--torch-threads", str(args.torch_threads), timeout=900)
            clients[engine] = PolicyInferenceClient(servers[engine].target, timeout=900)
            clients[engine].generate(prompt_ids=prompt_ids[:2], max_new_tokens=4)  # warm-up
        rates: dict[tuple[str, int], list[float]] = {}
        for callers in args.callers:
            for repeat in range(args.repeats):
                for engine in ENGINES:
                    rate, tokens, stops = rollout(clients[engine], prompt_ids, callers, args.new_tokens,
                                                  seed=repeat, eos=tokenizer.eos_token_id)
                    rates.setdefault((engine, callers), []).append(rate)
                    print(f"{engine:>4} x{callers:<3} round {repeat}: {tokens} tokens ({stops} stopped at EOS), "
                          f"{rate:.1f} tok/s", flush=True)
    finally:
        for client in clients.values():
            client.close()
        for server in servers.values():
            server.terminate()

    print(f"\nmodel {model.name}, {args.new_tokens} new tokens per prompt, median of {args.repeats}:")
    report = []
    for callers in args.callers:
        hf, vllm = (statistics.median(rates[(engine, callers)]) for engine in ENGINES)
        report.append({"callers": callers, "hf_tok_s": round(hf, 1), "vllm_tok_s": round(vllm, 1),
                       "ratio_vllm_over_hf": round(vllm / hf, 2)})
        print(f"  {callers:>3} concurrent: hf {hf:7.1f} tok/s   vllm {vllm:7.1f} tok/s   vllm/hf {vllm / hf:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
