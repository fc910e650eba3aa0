"""`rlhf run`: the whole alignment loop on one machine, no cluster.

Starts the four services as real processes on 127.0.0.1, keeps everything under runs/<id>/
(store, models, metrics, report), and runs SFT -> sample K + rank -> RM -> PPO -> PPO-ptx -> eval.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path

from rlhf.config import Config, to_dict

LISTENING = re.compile(r"listening on (\S+):(\d+)")

# record set -> (kind, bundled demo file)
DEMO_SETS = {
    "prompts/train": ("prompts", "prompts_train.jsonl"),
    "prompts/heldout": ("prompts", "prompts_heldout.jsonl"),
    "demonstrations": ("demonstrations", "demonstrations.jsonl"),
    "general/train": ("text", "general_train.jsonl"),
    "general/heldout": ("text", "general_heldout.jsonl"),
}


class ServiceProcesses:
    """Service processes started by this run; each prints its port, all stop on exit."""

    def __init__(self, log_dir: Path, timeout: float):
        self.log_dir = log_dir
        self.timeout = timeout
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str) -> int:
        self.stop(name)
        log_path = self.log_dir / f"{name}.log"
        cmd = [sys.executable, "-m", "pipelines.cli", "serve", name, "--host", "127.0.0.1", "--port", "0",
               "--metrics-port", "0", *args]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.procs[name] = proc
        log = log_path.open("a")
        port: list[int] = []
        ready = threading.Event()

        def pump() -> None:  # copy output to the log, catch the port, never let the pipe fill
            for line in proc.stdout:
                log.write(line)
                log.flush()
                match = LISTENING.search(line)
                if match and not port:
                    port.append(int(match.group(2)))
                    ready.set()
            ready.set()
        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(self.timeout) or not port:
            self.stop(name)
            raise RuntimeError(f"{name} did not start within {self.timeout:g}s; see {log_path}")
        print(f"run: {name} on 127.0.0.1:{port[0]} (log {log_path})", flush=True)
        return port[0]

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


def run_paths(config: Config, run_dir: Path) -> Config:
    """Points every stage's inputs and outputs into run_dir."""
    models = run_dir / "models"
    sft, rm = str(models / "sft"), str(models / "rm")
    config.store.uri = f"file://{(run_dir / 'store').resolve()}"
    config.sft.output_dir = sft
    config.rm.init_model, config.rm.output_dir = sft, rm
    config.ppo.init_model, config.ppo.value_model = sft, rm
    config.eval.reference_model = sft
    config.eval.policies = {"PPO": str(models / "ppo"), "PPO-ptx": str(models / "ppo_ptx")}
    config.eval.report_dir = str(run_dir)
    config.eval.rm_summary = str(models / "rm_summary.json")
    return config


def upload_demo_data(store) -> None:
    demo = resources.files("rlhf.data") / "demo"
    for record_set, (kind, filename) in DEMO_SETS.items():
        count = store.put_records(record_set, kind, (demo / filename).read_bytes())
        print(f"run: {record_set}: {count} {kind} records", flush=True)


def run_local(config: Config) -> Path:
    from pipelines.common import data_store, resolve_model
    from pipelines.evaluate import evaluate
    from pipelines.label import label
    from pipelines.ppo import train_ppo
    from pipelines.rm import train_rm
    from pipelines.sft import train_sft

    run_id = config.run.run_id or time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(config.run.runs_dir) / run_id
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    config = run_paths(config, run_dir)
    (run_dir / "config.json").write_text(json.dumps(to_dict(config), indent=2))
    resolve_model(config.sft.base_model)  # convert the bundled model once, before any clock starts
    services = ServiceProcesses(run_dir / "logs", config.run.service_start_timeout)
    timings: dict[str, float] = {}

    def stage(name: str, fn, *args):
        start = time.perf_counter()
        result = fn(*args)
        timings[name] = round(time.perf_counter() - start, 1)
        print(f"run: {name} took {timings[name]:.0f}s", flush=True)
        return result

    def serve(name: str, section: str, *args: str) -> None:
        getattr(config.services, section).port = services.start(name, *args)
        getattr(config.services, section).host = "127.0.0.1"

    try:
        serve("data-store", "data_store", "--store", config.store.uri)
        with data_store(config) as store:
            upload_demo_data(store)
        sft_dir = stage("sft", train_sft, config)
        serve("policy-inference", "policy_inference", "--model", str(sft_dir))
        # Score and LogProbs run at the same time on one machine: one thread each, not two on two cores.
        serve("reference-kl", "reference_kl", "--model", str(sft_dir), "--torch-threads", "1")
        stage("label", label, config)
        rm_dir = stage("rm", train_rm, config)
        serve("reward-scoring", "reward_scoring", "--model", str(rm_dir), "--torch-threads", "1")
        for run_name, ptx_coef in (("ppo", config.ppo.ptx_coef), ("ppo_ptx", config.run.ptx_coef)):
            ppo_config = dataclasses.replace(config, ppo=dataclasses.replace(
                config.ppo, run_name=run_name, ptx_coef=ptx_coef, output_dir=str(run_dir / "models" / run_name)))
            stage(run_name, train_ppo, ppo_config)
        stage("eval", evaluate, config)
    finally:
        services.stop_all()
    (run_dir / "timings.json").write_text(json.dumps(timings, indent=2))
    print(f"run: done in {sum(timings.values()):.0f}s; report at {run_dir / 'report.md'}", flush=True)
    return run_dir
