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
import re
import signal
import _thread
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

from rlhf.config import Config, to_dict

LISTENING = re.compile(r"listening on (\S+):(\d+) metrics (\S+)")

# `rlhf run --preset NAME`: config overrides applied before the user's --set. "tiny" runs the whole
# loop on random 2-layer models in about a minute, to try a data set before the real run.
PRESETS: dict[str, list[str]] = {
    "tiny": ["sft.epochs=0.05", "label.num_prompts=8", "label.num_heldout=4", "label.k=3", "label.max_new_tokens=8",
             "ppo.steps=2", "ppo.prompts_per_step=4", "ppo.minibatch_size=4", "ppo.max_new_tokens=8",
             "ppo.eval_every=1", "ppo.eval_size=4", "ppo.ptx_batch_size=2", "eval.max_prompts=8",
             "eval.max_general=8", "eval.max_new_tokens=8"],
}


class ServiceProcess:
    """One service as its own process (`rlhf serve NAME --port PORT ...`); port 0 (the default) picks
    a free one, which the service prints.

    `target` is host:port and `metrics_url` its /metrics. Output goes to `log_path` when given, else
    it is kept in `output`; a reader thread drains it so the pipe never fills and blocks the server.
    """

    def __init__(self, name: str, *args: str, env: dict | None = None, timeout: float = 300,
                 log_path: Path | None = None, port: int = 0):
        self.name = name
        self.args, self.env, self.timeout = args, env, timeout
        cmd = [sys.executable, "-m", "pipelines.cli", "serve", name, "--port", str(port), "--metrics-port", "0", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        self.lines: list[str] = []
        self.log_path = log_path
        self.target = self.metrics_url = ""
        self.stopping = False
        """Set by `terminate`: the exit that follows is asked for, not a crash."""
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout) or not self.target:
            self.terminate()
            where = f"see {log_path}" if log_path else "output:\n" + self.output
            raise RuntimeError(f"{name} did not start listening within {timeout:g}s; {where}")

    def _pump(self) -> None:
        log = self.log_path.open("a") if self.log_path else None
        for line in self.proc.stdout:
            if log:
                log.write(line)
                log.flush()
            else:
                self.lines.append(line)
            match = LISTENING.search(line)
            if match and not self.target:
                self.target, self.metrics_url = f"{match.group(1)}:{match.group(2)}", match.group(3)
                self._ready.set()
        self._ready.set()  # exited without listening: do not wait out the timeout

    @property
    def port(self) -> int:
        return int(self.target.rsplit(":", 1)[1])

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def crashed(self) -> int | None:
        """The exit code if the process ended without being asked to; None while it runs."""
        code = self.proc.poll()
        return None if code is None or self.stopping else code

    def restarted(self) -> ServiceProcess:
        """The same service started again on the same port, so its callers find it where it was."""
        self._reader.join(5)
        return ServiceProcess(self.name, *self.args, env=self.env, timeout=self.timeout, log_path=self.log_path,
                              port=self.port)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM (the server drains in-flight calls), SIGKILL after `timeout`; returns the exit code."""
        self.stopping = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(5)
        return code


class Supervisor:
    """Keeps the services of `rlhf run` up: one that exits unasked is reported at once (exit code and
    log) and started again on its port, so the trainer's retries find it there; after
    `max_restarts` crashes of one service the run is stopped with that report. SIGTERM and SIGINT
    stop the run, and leaving the `with` block stops every service."""

    def __init__(self, max_restarts: int = 5, poll_s: float = 0.5):
        self.services: dict[str, ServiceProcess] = {}
        self.max_restarts = max_restarts
        self.poll_s = poll_s
        self.restarts: dict[str, int] = {}
        self.failure = ""
        self._closing = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="rlhf-run-supervisor", daemon=True)
        self._previous_handler = None

    def __getitem__(self, section: str) -> ServiceProcess:
        return self.services[section]

    def __enter__(self) -> Supervisor:
        if threading.current_thread() is threading.main_thread():
            # SIGTERM would end the process without unwinding, leaving the services running.
            self._previous_handler = signal.signal(signal.SIGTERM, self._stop)
        self._watcher.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()
        self._watcher.join()
        for service in self.services.values():
            service.terminate()
        if self._previous_handler is not None:
            signal.signal(signal.SIGTERM, self._previous_handler)

    def _stop(self, signum: int, frame) -> None:
        raise SystemExit(self.failure or f"run: stopped by {signal.Signals(signum).name}")

    def _watch(self) -> None:
        while not self._closing.wait(self.poll_s):
            for section, service in list(self.services.items()):
                code = service.crashed()
                if code is not None and not self._closing.is_set():
                    self._restart(section, service, code)

    def _restart(self, section: str, service: ServiceProcess, code: int) -> None:
        count = self.restarts[section] = self.restarts.get(section, 0) + 1
        report = f"run: {service.name} exited with code {code} (log {service.log_path})"
        if count > self.max_restarts:
            self.failure = f"{report}; it crashed {count} times, giving up"
        else:
            print(f"{report}; restarting it on port {service.port} ({count}/{self.max_restarts})", flush=True)
            try:
                self.services[section] = service.restarted()
                print(f"run: {service.name} is back on {self.services[section].target}", flush=True)
                return
            except RuntimeError as exc:
                self.failure = f"{report}; restarting it failed: {exc}"
        print(self.failure, flush=True)
        self._closing.set()
        if self._previous_handler is not None:
            os.kill(os.getpid(), signal.SIGTERM)  # wakes the main thread wherever it waits
        else:
            _thread.interrupt_main()

# Score and LogProbs run at the same time on one machine: one torch thread each, not two on two cores.
TORCH_THREADS = {"reward_scoring": 1, "reference_kl": 1}


def start_service(section: str, *args: str, log_path: Path | None = None, timeout: float = 300) -> ServiceProcess:
    """The service of config section `section` on 127.0.0.1 (a free port), as this machine runs it."""
    threads = ["--torch-threads", str(TORCH_THREADS[section])] if section in TORCH_THREADS else []
    return ServiceProcess(section.replace("_", "-"), "--host", "127.0.0.1", *args, *threads, log_path=log_path,
                          timeout=timeout)


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
    """Writes to a console stream and the run's console.log."""

    def __init__(self, stream, log):
        self.stream, self.log = stream, log

    def write(self, text: str) -> int:
        self.log.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
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


def run_local(config: Config, preset: str = "") -> Path:
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

    def serve(section: str, *args: str) -> None:
        log_path = run_dir / "logs" / f"{section.replace('_', '-')}.log"
        services.services[section] = start_service(section, *args, log_path=log_path,
                                                   timeout=config.run.service_start_timeout)
        getattr(config.services, section).host = "127.0.0.1"
        getattr(config.services, section).port = services[section].port
        print(f"run: {services[section].name} on {services[section].target} (log {log_path})", flush=True)

    with services:
        serve("data_store", "--store", config.store.uri)
        with data_store(config) as store:
            import_data(store, config.run.data)
            check_label_source(config, store)  # before any model loads
        sft_dir = stage("sft", train_sft, config)
        serve("policy_inference", "--model", str(sft_dir))
        serve("reference_kl", "--model", str(sft_dir))
        stage("label", label, config)
        rm_dir = stage("rm", train_rm, config)
        serve("reward_scoring", "--model", str(rm_dir))
        for run_name, ptx_coef in (("ppo", config.ppo.ptx_coef), ("ppo_ptx", config.run.ptx_coef)):
            ppo_config = dataclasses.replace(config, ppo=dataclasses.replace(
                config.ppo, run_name=run_name, ptx_coef=ptx_coef, output_dir=str(run_dir / "models" / run_name)))
            stage(run_name, train_ppo, ppo_config)
        stage("eval", evaluate, config)
    (run_dir / "timings.json").write_text(json.dumps(timings, indent=2))
    print(f"run: done in {sum(timings.values()):.0f}s; report at {run_dir / 'report.md'}", flush=True)
    return run_dir


def run_pipeline_local(config: Config, arguments: dict[str, str]) -> dict[str, float]:
    """`rlhf pipeline run-local`: the Kubeflow pipeline through kfp.local.SubprocessRunner in this
    Python environment. Each step starts the services it calls on 127.0.0.1; the store, models,
    logs and kfp's outputs go under runs/pipeline-<id>/. Returns the Metrics artifact's values."""
    from kfp import local as kfp_local

    from pipelines.alignment_pipeline import rlhf_alignment

    inputs = rlhf_alignment.component_spec.inputs
    typed: dict[str, object] = {}
    for name, raw in arguments.items():
        if name not in inputs or name in ("mode", "local_config", "namespace", "release"):
            settable = sorted(set(inputs) - {"mode", "local_config", "namespace", "release"})
            raise ValueError(f"--param {name}: not a pipeline parameter here (known: {', '.join(settable)})")
        kind = {"Integer": int, "Float": float, "String": str}[inputs[name].type]
        try:
            typed[name] = kind(raw)
        except ValueError:
            raise ValueError(f"--param {name}={raw!r}: expected {kind.__name__}") from None

    run_id = config.run.run_id or time.strftime("%Y%m%d-%H%M%S")
    run_dir = (Path(config.run.runs_dir) / f"pipeline-{run_id}").resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    config.store.uri = f"file://{run_dir / 'store'}"
    config_file = run_dir / "config.json"
    config_file.write_text(json.dumps(to_dict(config), indent=2))
    if typed.get("base_model", "smollm2") == "smollm2":
        from pipelines.common import resolve_model

        resolve_model("smollm2")  # convert the bundled model once, before the first step
    kfp_local.init(runner=kfp_local.SubprocessRunner(use_venv=False), pipeline_root=str(run_dir / "kfp"),
                   raise_on_error=True)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # kfp warns that our image is not a python:* image; here the steps run in this environment.
        warnings.filterwarnings("ignore", message=".*non-Python base image.*")
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
        task = rlhf_alignment(mode="local", local_config=str(config_file), namespace="", release="", **typed)
    metrics = dict(task.output.metadata)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"pipeline: done in {time.perf_counter() - start:.0f}s; metrics {run_dir / 'metrics.json'}, "
          f"report {run_dir / 'report' / 'report.md'}", flush=True)
    return metrics
