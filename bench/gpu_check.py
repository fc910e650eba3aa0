"""The GPU check: anyone with one CUDA GPU runs the training stages and the services on it.

Starts the four services on 127.0.0.1 (the three model services load their models onto the GPU),
then runs the real stages in this process: two SFT steps, two RM steps and two PPO steps through
the services. It checks that every module forward of every stage ran with its parameters and
inputs on CUDA and that each model service took GPU memory as it started, and prints the step
times and tokens/s of the second step of each stage (the first one warms CUDA up).

    python bench/gpu_check.py            # SmolLM2-135M (the demo's model)
    python bench/gpu_check.py --tiny     # tiny random Llamas: the same path in seconds

Exits non-zero, saying why, when there is no CUDA device or a check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import model_dirs  # noqa: E402
from pipelines.common import read_jsonl  # noqa: E402
from pipelines.data import DEMO_SETS, import_data  # noqa: E402
from pipelines.processes import start_service  # noqa: E402
from rlhf.clients.data_store import DataStoreClient  # noqa: E402
from rlhf.config import Config  # noqa: E402


class DeviceWatch:
    """Records the device of every parameter and tensor input of every module forward."""

    def __init__(self):
        self.devices: dict[str, set[str]] = {}
        self.handle = torch.nn.modules.module.register_module_forward_pre_hook(self.hook)

    def hook(self, module: torch.nn.Module, args: tuple) -> None:
        seen = self.devices.setdefault(type(module).__name__, set())
        seen.update(p.device.type for p in module.parameters(recurse=False))
        seen.update(a.device.type for a in args if isinstance(a, torch.Tensor))

    def check(self, stage: str) -> None:
        """Raises SystemExit naming the modules that saw a non-CUDA tensor; then starts afresh."""
        off = {name: sorted(d) for name, d in self.devices.items() if d - {"cuda"}}
        if not self.devices:
            raise SystemExit(f"{stage}: no module forward ran in this process")
        if off:
            raise SystemExit(f"{stage}: tensors off the GPU in {off}")
        print(f"{stage}: {len(self.devices)} module types ran, every parameter and input on CUDA; "
              f"peak CUDA memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB", flush=True)
        self.devices = {}
        torch.cuda.reset_peak_memory_stats()


def gpu_used() -> int:
    """Bytes in use on the GPU by every process (a service's CUDA context and model included)."""
    free, total = torch.cuda.mem_get_info()
    return total - free


def last_step(path: Path) -> dict:
    rows = read_jsonl(path)
    if len(rows) < 2:
        raise SystemExit(f"{path}: expected 2 steps, found {len(rows)}")
    return rows[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny random Llamas instead of SmolLM2-135M")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here (torch.cuda.is_available() is False; "
                         f"torch {torch.__version__}, CUDA build {torch.version.cuda}); run it on a machine with a GPU")
    print(f"gpu_check: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}", flush=True)

    from pipelines.ppo import train_ppo
    from pipelines.rm import train_rm
    from pipelines.sft import train_sft

    policy, reward = model_dirs(args.tiny)
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    config = Config()
    config.store.uri = f"file://{work / 'store'}"
    services = {}
    try:
        for section, model_args in (("data_store", ["--store", config.store.uri]),
                                    ("policy_inference", ["--model", str(policy)]),
                                    ("reference_kl", ["--model", str(policy)]),
                                    ("reward_scoring", ["--model", str(reward)])):
            before = gpu_used()
            services[section] = start_service(section, *model_args, log_path=work / f"{section}.log")
            getattr(config.services, section).port = services[section].port
            # A service that loads its model onto the GPU opens a CUDA context there (hundreds of
            # MiB) before it listens; one that kept its model on the CPU never touches the GPU.
            grown = (gpu_used() - before) / 2**20
            if section != "data_store" and grown < 64:
                raise SystemExit(f"{section}: the GPU's memory in use grew {grown:.0f} MiB while it started: "
                                 f"its model is not on the GPU (log: {work / f'{section}.log'})")
            print(f"{section}: listening on {services[section].target}, GPU memory in use +{grown:.0f} MiB", flush=True)
        with DataStoreClient(services["data_store"].target) as store:
            import_data(store, {record_set: "demo" for record_set in DEMO_SETS})
            demonstrations = store.read_records("demonstrations")
            store.put_records("comparisons/gpu-check", "comparisons", [
                {"prompt": d["prompt"], "chosen": d["completion"], "rejected": "I cannot help with that."}
                for d in demonstrations[:16]])
        watch = DeviceWatch()

        sft = config.sft
        sft.base_model, sft.output_dir, sft.batch_size = str(policy), str(work / "sft"), 8
        sft.epochs = 2 * sft.batch_size / len(demonstrations)  # 2 steps
        train_sft(config)
        watch.check("sft")
        row = last_step(work / "sft_metrics.jsonl")
        print(f"sft: step {row['step_seconds']:.3f} s, {row['tokens'] / row['step_seconds']:.0f} tokens/s "
              f"({sft.batch_size} demonstrations, {row['tokens']} tokens)", flush=True)

        rm = config.rm
        rm.init_model, rm.output_dir, rm.comparisons = str(reward), str(work / "rm"), "comparisons/gpu-check"
        rm.heldout_comparisons, rm.demonstrations, rm.prompts_per_batch, rm.epochs = "", "", 8, 1.0  # 2 steps
        train_rm(config)
        watch.check("rm")
        row = last_step(work / "rm_metrics.jsonl")
        print(f"rm: step {row['step_seconds']:.3f} s, {row['completions'] / row['step_seconds']:.1f} completions/s "
              f"({rm.prompts_per_batch} prompts, {row['completions']} completions)", flush=True)

        ppo = config.ppo
        ppo.init_model, ppo.value_model, ppo.output_dir = str(policy), str(reward), str(work / "ppo")
        ppo.steps, ppo.prompts_per_step, ppo.minibatch_size, ppo.max_new_tokens = 2, 8, 8, 64
        ppo.eval_every, ppo.checkpoint_every, ppo.run_name = 0, 0, "gpu-check"
        start = time.perf_counter()
        train_ppo(config)
        watch.check("ppo")
        row = last_step(work / "ppo_metrics.jsonl")
        generated = ppo.prompts_per_step * row["response_length"]
        print(f"ppo: step {row['step_seconds']:.3f} s = generate {row['time_generate']:.3f} "
              f"+ score/reference {row['time_score_reference']:.3f} + forward {row['time_forward']:.3f} "
              f"+ train {row['time_train']:.3f} "
              f"+ push {row['time_push']:.3f}; generation {generated / row['time_generate']:.0f} tokens/s, "
              f"training {generated / row['time_train']:.0f} completion tokens/s "
              f"(stage {time.perf_counter() - start:.1f} s)", flush=True)
        print("gpu_check: OK " + json.dumps({"work_dir": str(work)}), flush=True)
    finally:
        for proc in services.values():
            proc.terminate()


if __name__ == "__main__":
    main()
