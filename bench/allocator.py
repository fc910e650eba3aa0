"""The allocator: a PPO step's Generate through policy-inference with glibc's malloc defaults vs
`keep_freed_memory` (what every command of ours applies), side by side in one run: two services of
the same model, called in turn so drift in the machine's load hits both, before and after one
whole-weight push (the label stage pushes the SFT model whole before sampling from it).

    python bench/allocator.py            # SmolLM2-135M, 16 demo prompts x 40 new tokens
    python bench/allocator.py --tiny     # tiny random Llamas: checks the harness in seconds
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import model_dirs  # noqa: E402
from pipelines.data import read_source  # noqa: E402
from pipelines.processes import ServiceProcess, stop_services  # noqa: E402
from rlhf.allocator import KEEP_FREED_MEMORY_ENV  # noqa: E402
from rlhf.clients.policy_inference import PolicyInferenceClient  # noqa: E402
from rlhf.config import ClientConfig  # noqa: E402
from rlhf.models import load_policy, load_tokenizer  # noqa: E402
from rlhf.models.scoring import instruction_ids  # noqa: E402

SETTINGS = {"glibc defaults": "0", "keep_freed_memory": "1"}
PHASES = ("fresh", "after a whole-weight push")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny random models (checks the harness)")
    parser.add_argument("--rounds", type=int, default=5, help="Generate calls per service and phase")
    args = parser.parse_args()
    policy_dir, _ = model_dirs(args.tiny)
    tokenizer = load_tokenizer(policy_dir)
    prompts = [json.loads(line)["prompt"] for line in read_source("prompts/train", "demo").splitlines()[:16]]
    prompt_ids = instruction_ids(tokenizer, prompts)
    services = {name: ServiceProcess("policy-inference", "--model", str(policy_dir), env={KEEP_FREED_MEMORY_ENV: value})
                for name, value in SETTINGS.items()}
    seconds: dict[tuple[str, str], list[float]] = {}
    try:
        clients = {name: PolicyInferenceClient(service.target, ClientConfig()) for name, service in services.items()}
        for phase in PHASES:
            if phase != "fresh":
                weights = load_policy(policy_dir).state_dict()
                for client in clients.values():
                    client.update_weights(weights)
            for round_ in range(args.rounds + 1):  # the first round warms up
                for name, client in clients.items():
                    start = time.perf_counter()
                    client.generate(prompt_ids=prompt_ids, max_new_tokens=40, temperature=1.0, seed=round_,
                                    timeout=600)
                    if round_:
                        seconds.setdefault((phase, name), []).append(time.perf_counter() - start)
        for client in clients.values():
            client.close()
    finally:
        stop_services(services.values())
    print(f"Generate of {len(prompts)} prompts x 40 new tokens, median of {args.rounds} (seconds):")
    for phase in PHASES:
        medians = {name: statistics.median(seconds[(phase, name)]) for name in SETTINGS}
        default, kept = medians["glibc defaults"], medians["keep_freed_memory"]
        print(f"  {phase}: glibc defaults {default:.2f}, keep_freed_memory {kept:.2f} "
              f"(defaults / kept: {default / kept:.2f})")


if __name__ == "__main__":
    main()
