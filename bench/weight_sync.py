"""Weight sync, full policy vs LoRA adapter: bytes and seconds per push to policy-inference, and one
PPO step's time, side by side in one run against the same services.

Full pushes send every weight in bf16 (`ppo.push_dtype`); LoRA pushes send only the adapters (rank
16 on every attention and MLP projection by default), which policy-inference merges into its base.

    python bench/weight_sync.py            # SmolLM2-135M, the demo's PPO settings
    python bench/weight_sync.py --tiny     # tiny random Llamas: checks the harness in seconds
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import model_dirs, ppo_stack  # noqa: E402
from pipelines.ppo import Trainer  # noqa: E402
from rlhf import parallel  # noqa: E402
from rlhf.config import Config  # noqa: E402


def measure(config: Config, pushes: int, steps: int) -> dict[str, float]:
    """Bytes of one push, median seconds of `pushes` pushes, and medians of `steps` PPO steps (after
    one warm-up step)."""
    trainer = Trainer(config)
    try:
        trainer.check_tokenizers()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "push.safetensors"
            parallel.write_safetensors(path, trainer.policy, getattr(torch, config.ppo.push_dtype),
                                       part="adapter" if config.ppo.lora.rank else "model")
            size = path.stat().st_size
        seconds = []
        for _ in range(pushes):
            start = time.perf_counter()
            trainer.push_weights()
            seconds.append(time.perf_counter() - start)
        rows = [trainer.train_step() for _ in range(steps + 1)][1:]
    finally:
        trainer.close()
    return {"bytes": size, "push_seconds": statistics.median(seconds),
            **{key: statistics.median(row[key] for row in rows) for key in ("time_push", "time_train", "step_seconds")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny random models instead of SmolLM2-135M")
    parser.add_argument("--rank", type=int, default=16, help="LoRA rank")
    parser.add_argument("--pushes", type=int, default=5, help="timed pushes per mode")
    parser.add_argument("--steps", type=int, default=2, help="measured PPO steps per mode (after one warm-up)")
    args = parser.parse_args()
    policy_dir, rm_dir = model_dirs(args.tiny)
    with ppo_stack(policy_dir, rm_dir) as config:
        config.ppo.checkpoint_every = 0
        full = measure(copy.deepcopy(config), args.pushes, args.steps)
        config.ppo.lora.rank = args.rank
        adapter = measure(copy.deepcopy(config), args.pushes, args.steps)

    print(f"Weight sync to policy-inference, {policy_dir.name}: full policy ({config.ppo.push_dtype}) vs LoRA "
          f"rank {args.rank} on {', '.join(config.ppo.lora.target_modules)}")
    print(f"  {'':30s} {'full':>12s} {'LoRA':>12s} {'full / LoRA':>12s}")
    rows = [("bytes per push", "bytes", "{:12,.0f}"), ("seconds per push (median)", "push_seconds", "{:12.3f}"),
            ("push in a PPO step, s", "time_push", "{:12.3f}"), ("train in a PPO step, s", "time_train", "{:12.3f}"),
            ("PPO step, s", "step_seconds", "{:12.3f}")]
    for label, key, fmt in rows:
        print(f"  {label:30s} {fmt.format(full[key])} {fmt.format(adapter[key])} {full[key] / adapter[key]:11.1f}x")
    print(f"  target: >= 20x fewer bytes per push; measured {full['bytes'] / adapter['bytes']:.1f}x")


if __name__ == "__main__":
    main()
