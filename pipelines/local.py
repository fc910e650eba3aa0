"""`rlhf run`: the whole alignment loop on one machine, no cluster.

Starts the four services as real processes on 127.0.0.1, keeps everything under runs/<id>/
(store, models, metrics, report, console log; runs/latest points at the newest run), imports the
run's data and runs SFT -> sample K + rank (or imported rankings) -> RM -> PPO -> PPO-ptx -> eval.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from pipelines.processes import Supervisor, start_services
from rlhf.config import VLLM_LORA_RANKS, Config, ConfigError, to_dict

VALIDATION_OVERRIDES = ["label.heldout_prompts=prompts/validation", "ppo.eval_prompts=prompts/validation",
                        "eval.prompts=prompts/validation"]

# `rlhf run --preset NAME`: config overrides applied before the user's --set. "tiny" runs the whole
# loop on random 2-layer models in about a minute, to try a data set before the real run. It labels 8
# held-out prompts: a random model's 8-token samples tie often, and with 4 the demo's all tied once.
PRESETS: dict[str, list[str]] = {
    "tiny": ["sft.epochs=0.05", "label.num_prompts=8", "label.num_heldout=8", "label.k=3", "label.max_new_tokens=8",
             "ppo.steps=2", "ppo.prompts_per_step=4", "ppo.minibatch_size=4", "ppo.max_new_tokens=8",
             "ppo.eval_every=1", "ppo.eval_size=4", "eval.max_prompts=8", "eval.max_general=8",
             "eval.max_new_tokens=8"],
    # Choose settings without looking at the held-out prompts: the RM's held-out accuracy, PPO's
    # in-training win rate and the report all use prompts/validation (carved from the demo's train
    # subjects; neither the label stage nor PPO samples it).
    "validation": VALIDATION_OVERRIDES,
}
# Record sets a preset imports besides run.data (the user's --data win).
PRESET_DATA: dict[str, dict[str, str]] = {"validation": {"prompts/validation": "demo"}}


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


def tiny_base_model(out: Path, tokenizer_source: str) -> Path:
    """The `tiny` preset's base model: a random 2-layer Llama with the tokenizer of `tokenizer_source`
    (a model directory or "smollm2")."""
    from pipelines.common import resolve_model
    from rlhf.models import load_tokenizer, smollm2
    from rlhf.models.tiny import make_tiny_models

    tokenizer_dir = out / "tokenizer"
    source = smollm2.tokenizer_dir() if tokenizer_source == "smollm2" else resolve_model(tokenizer_source)
    load_tokenizer(source).save_pretrained(tokenizer_dir)
    return make_tiny_models(out, tokenizer_dir)["policy"]


class _Tee:
    """Writes to a console stream and the run's console.log. A logging handler created during a run
    keeps this object as its stream; after the run (its log closed) it writes to the console only,
    so the next seed of `rlhf run --seeds` does not fail on it."""

    def __init__(self, stream, log):
        self.stream, self.log = stream, log

    def write(self, text: str) -> int:
        if not self.log.closed:
            self.log.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        if not self.log.closed:
            self.log.flush()
        self.stream.flush()

    def __getattr__(self, name):  # isatty, fileno, encoding...: the console's
        return getattr(self.stream, name)


@contextlib.contextmanager
def console_log(path: Path):
    """Copies this process's stdout and stderr (stage prints, progress bars) into `path`."""
    with path.open("a") as log, contextlib.redirect_stdout(_Tee(sys.stdout, log)), \
            contextlib.redirect_stderr(_Tee(sys.stderr, log)):
        yield


def point_latest(run_dir: Path) -> None:
    """runs/latest -> runs/<id>: the stages' default paths (runs/latest/models/...) then name this run."""
    latest = run_dir.parent / "latest"
    if latest.is_symlink() or not latest.exists():
        tmp = run_dir.parent / f".latest-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run_dir.name)
        tmp.replace(latest)


def policy_engine(config: Config) -> list[str]:
    """policy-inference's engine flags from the config: `--engine`, and for vLLM the LoRA rank to set
    memory aside for (`max_lora_rank`, else the smallest vLLM takes that holds `ppo.lora.rank`)."""
    serving = config.services.policy_inference
    if serving.engine != "vllm":
        return ["--engine", serving.engine]
    rank = serving.max_lora_rank
    if not rank and config.ppo.lora.rank:
        rank = next((r for r in VLLM_LORA_RANKS if r >= config.ppo.lora.rank), 0)
    return ["--engine", "vllm", *(["--max-lora-rank", str(rank)] if rank else [])]


def check_run_config(config: Config) -> None:
    """What `rlhf run` needs beyond a valid config: with people ranking in Label Studio, the label
    stage must wait for them (the RM stage reads their rankings right after)."""
    if config.label.source == "label-studio" and config.label.label_studio.wait_timeout_s <= 0:
        raise ConfigError("label.label_studio.wait_timeout_s: rlhf run trains the reward model right after the "
                          "label stage, so it must wait for the labelers: set it, e.g. 86400 for a day")


def run_local(config: Config, preset: str = "") -> Path:
    check_run_config(config)
    run_id = config.run.run_id or time.strftime("%Y%m%d-%H%M%S")
    config.run.run_id = run_id
    run_dir = Path(config.run.runs_dir) / run_id
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    point_latest(run_dir)
    with console_log(run_dir / "console.log"):
        if preset == "tiny":
            config.sft.base_model = str(tiny_base_model(run_dir / "tiny", config.sft.base_model))
        return _run_stages(run_paths(config, run_dir), run_dir)


def _run_stages(config: Config, run_dir: Path) -> Path:
    from pipelines.common import config_hash, data_store, resolve_model
    from pipelines.data import import_data
    from pipelines.evaluate import evaluate
    from pipelines.label import check_label_source, label
    from pipelines.ppo import train_ppo
    from pipelines.rm import train_rm
    from pipelines.sft import train_sft

    (run_dir / "config.json").write_text(json.dumps(to_dict(config), indent=2))
    print(f"run: {run_dir} (config {config_hash(config)}, base model {config.sft.base_model})", flush=True)
    resolve_model(config.sft.base_model)  # convert the bundled model once, before any clock starts
    services = Supervisor()
    timings: dict[str, float] = {}

    def stage(name: str, fn, *args):
        start = time.perf_counter()
        result = fn(*args)
        timings[name] = round(time.perf_counter() - start, 1)
        print(f"run: {name} took {timings[name]:.0f}s", flush=True)
        return result

    def serve(**args: list[str]) -> None:
        log_paths = {section: run_dir / "logs" / f"{section.replace('_', '-')}.log" for section in args}
        # With the run's config, so its `services.<name>` settings (--set, --config) reach the services.
        services.services.update(start_services(args, log_paths, timeout=config.run.service_start_timeout,
                                                config_file=run_dir / "config.json"))
        for section in args:
            getattr(config.services, section).host = "127.0.0.1"
            getattr(config.services, section).port = services[section].port
            print(f"run: {services[section].name} on {services[section].target} (log {log_paths[section]})",
                  flush=True)

    with services:
        serve(data_store=["--store", config.store.uri])
        with data_store(config) as store:
            import_data(store, config.run.data)
            check_label_source(config, store)  # before any model loads
        sft_dir = stage("sft", train_sft, config)
        serve(policy_inference=["--model", str(sft_dir), *policy_engine(config)],
              reference_kl=["--model", str(sft_dir)])
        stage("label", label, config)
        rm_dir = stage("rm", train_rm, config)
        serve(reward_scoring=["--model", str(rm_dir)])
        for run_name, ptx_coef, learning_rate in (
                ("ppo", config.ppo.ptx_coef, config.ppo.learning_rate),
                ("ppo_ptx", config.run.ptx_coef, config.run.ptx_learning_rate)):
            print(f"run: {run_name}: ptx_coef {ptx_coef:g}, policy learning rate {learning_rate:g}", flush=True)
            ppo_config = dataclasses.replace(config, ppo=dataclasses.replace(
                config.ppo, run_name=run_name, ptx_coef=ptx_coef, learning_rate=learning_rate,
                output_dir=str(run_dir / "models" / run_name)))
            stage(run_name, train_ppo, ppo_config)
        stage("eval", evaluate, config)
    (run_dir / "timings.json").write_text(json.dumps(timings, indent=2))
    print(f"run: done in {sum(timings.values()):.0f}s; report at {run_dir / 'report.md'}", flush=True)
    return run_dir
