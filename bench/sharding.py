"""DDP vs FSDP2 at 2 ranks (gloo, CPU), side by side in one run: peak memory per rank and step time.

Each strategy trains the same model for a few SFT-shaped steps (fp32, AdamW, the project's
rlhf.parallel.wrap) in fresh processes under torchrun, so each rank's peak resident memory (VmHWM)
is its own: SmolLM2-135M as it is, then a deeper model of the same architecture built from its
config (`--layers`, random weights), where the per-layer state outweighs what every rank holds
whole for a moment (the 28M-parameter embedding gathered with its gradient, the loaded model
before sharding, activations). Memory is the peak above the rank's resident memory before the
model was loaded, next to the model state it holds by count (parameters, gradients, AdamW moments:
16 bytes per parameter held). Target: FSDP2 at most 0.6x DDP per rank.

    python bench/sharding.py [--tiny] [--layers 64] [--steps 3] [--batch 2] [--length 64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def resident_kib(field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of this process, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def worker(args: argparse.Namespace) -> None:
    """One rank: load, wrap with the strategy, train `steps` steps; rank 0 writes both ranks' numbers."""
    import torch
    import torch.distributed as dist

    from rlhf import parallel
    from rlhf.algos.sft import sft_loss
    from rlhf.config import ParallelConfig
    from rlhf.device import device, init_distributed
    from rlhf.models import load_policy

    rank, world = init_distributed()
    torch.manual_seed(rank)
    before = resident_kib("VmRSS")
    if args.layers:
        from transformers import AutoConfig, AutoModelForCausalLM

        config = AutoConfig.from_pretrained(args.model, num_hidden_layers=args.layers)
        torch.manual_seed(0)  # the same initial weights on every rank
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).train()
    else:
        model = load_policy(args.model).train()
    parallel.wrap(model, model, ParallelConfig(strategy=args.strategy), device=device(), world=world, bf16=False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    vocab = model.config.vocab_size
    times = []
    for _ in range(args.steps + 1):  # the first step allocates the optimizer state: not timed
        ids = torch.randint(0, vocab, (args.batch, args.length))
        dist.barrier()
        start = time.perf_counter()
        loss = sft_loss(model(input_ids=ids).logits.float(), ids, torch.ones_like(ids))
        loss.backward()
        parallel.clip_grad_norm(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        dist.barrier()
        times.append(time.perf_counter() - start)
    held, total = parallel.held_parameters(model)
    mine = {"peak_mib": (resident_kib("VmHWM") - before) / 1024, "state_mib": held * 16 / 2**20,
            "step_s": sum(times[1:]) / args.steps, "held": held, "total": total}
    ranks = [None] * world
    dist.all_gather_object(ranks, mine)
    if rank == 0:
        Path(args.out).write_text(json.dumps(ranks))
    dist.destroy_process_group()


def run(strategy: str, model: Path, layers: int, args: argparse.Namespace) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ranks.json"
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        __file__, "--worker", "--strategy", strategy, "--model", str(model), "--out", str(out),
                        "--layers", str(layers), "--steps", str(args.steps), "--batch", str(args.batch),
                        "--length", str(args.length)],
                       check=True, cwd=ROOT,
                       # A fixed mmap threshold: glibc then returns every freed tensor of 128 KiB or
                       # more to the OS, so resident memory follows the live tensors instead of the
                       # heap glibc keeps (its default threshold rises to 32 MiB after the first
                       # free, and FSDP2 frees a gathered layer after every use).
                       env={**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "131072"})
        return json.loads(out.read_text())


def report(title: str, results: dict[str, list[dict]]) -> None:
    print(f"\n{title}")
    print(f"{'':6} {'peak MiB/rank':>16} {'state MiB/rank':>16} {'params/rank':>14} {'step s':>8}")
    for strategy, ranks in results.items():
        peaks = "/".join(f"{r['peak_mib']:.0f}" for r in ranks)
        states = "/".join(f"{r['state_mib']:.0f}" for r in ranks)
        print(f"{strategy:6} {peaks:>16} {states:>16} {ranks[0]['held']:>14,} {max(r['step_s'] for r in ranks):>8.2f}")
    ddp, fsdp = results["ddp"], results["fsdp"]
    peak = max(r["peak_mib"] for r in fsdp) / max(r["peak_mib"] for r in ddp)
    state = max(r["state_mib"] for r in fsdp) / max(r["state_mib"] for r in ddp)
    step = max(r["step_s"] for r in fsdp) / max(r["step_s"] for r in ddp)
    print(f"FSDP2 / DDP: peak memory per rank {peak:.2f} (target <= 0.6), model state {state:.2f}, "
          f"step time {step:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny random Llama (checks the harness in seconds)")
    parser.add_argument("--layers", type=int, default=64,
                        help="decoder layers of the deeper model built from the config (0: skip it)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps (after one untimed)")
    parser.add_argument("--batch", type=int, default=2, help="sequences per rank per step")
    parser.add_argument("--length", type=int, default=64, help="tokens per sequence")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--strategy", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    from bench.common import model_dirs

    model, _ = model_dirs(args.tiny)
    shape = f"2 ranks (gloo, CPU, fp32 AdamW), {args.batch}x{args.length} tokens per rank"
    report(f"{model.name} as it is, {shape}", {s: run(s, model, 0, args) for s in ("ddp", "fsdp")})
    if args.layers:
        report(f"{model.name}'s architecture with {args.layers} layers (random weights), {shape}",
               {s: run(s, model, args.layers, args) for s in ("ddp", "fsdp")})


if __name__ == "__main__":
    main()
