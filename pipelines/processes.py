"""Service processes on this machine: `ServiceProcess` starts one (`rlhf serve NAME`) and waits
until it listens; `Supervisor` keeps those of a run up (restarts a crashed one on its port, stops
them all on SIGTERM); `start_service` starts one as `rlhf run` and `rlhf pipeline run-local` do,
`start_services` several at once, `stop_services` stops several at once."""

from __future__ import annotations

import _thread
import importlib.util
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rlhf.config import load_config
from rlhf.listening import parse_listening

VLLM_PYTHON = Path(__file__).resolve().parents[1] / ".venv-vllm" / "bin" / "python"
"""The vLLM environment's interpreter (`make vllm-env`), which `--engine vllm` services run in."""


class ServiceProcess:
    """One service as its own process (`rlhf serve NAME --port PORT ...`); port 0 (the default) picks
    a free one, which the service prints.

    `target` is host:port and `metrics_url` its /metrics. Output goes to `log_path` when given, else
    it is kept in `output`; a reader thread drains it so the pipe never fills and blocks the server.
    """

    def __init__(self, name: str, *args: str, env: dict | None = None, timeout: float = 300,
                 log_path: Path | None = None, port: int = 0, python: str = sys.executable):
        self.name = name
        self.args, self.env, self.timeout, self.python = args, env, timeout, python
        cmd = [python, "-m", "pipelines.cli", "serve", name, "--port", str(port), "--metrics-port", "0", *args]
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
            exited = self._ready.is_set()  # its output ended without a listening line
            code = self.terminate()
            what = f"exited with code {code} before listening" if exited else \
                f"did not start listening within {timeout:g}s"
            where = f"see {log_path}" if log_path else "output:\n" + self.output
            raise RuntimeError(f"{name} {what}; {where}")

    def _pump(self) -> None:
        log = self.log_path.open("a") if self.log_path else None
        for line in self.proc.stdout:
            if log:
                log.write(line)
                log.flush()
            else:
                self.lines.append(line)
            listening = parse_listening(line)
            if listening and not self.target:
                self.target, self.metrics_url = listening
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
                              port=self.port, python=self.python)

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
        stop_services(self.services.values())
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


def start_service(section: str, *args: str, log_path: Path | None = None, timeout: float = 300,
                  config_file: str | Path | None = None) -> ServiceProcess:
    """The service of config section `section` on 127.0.0.1 (a free port), as this machine runs it:
    `--engine vllm` runs in the vLLM environment (`make vllm-env`) when this one has no vllm. With
    `config_file` it reads that config (`--config`), so its `services.<name>` settings reach it, as a
    pod reads the release's; `args` (model, store, ...) come after it and win. Reward-scoring and
    reference-kl get TORCH_THREADS unless that config gives them a number."""
    settings = ["--config", str(config_file)] if config_file else []
    if section in TORCH_THREADS and not (config_file and getattr(load_config(config_file).services,
                                                                 section).torch_threads):
        settings += ["--torch-threads", str(TORCH_THREADS[section])]
    python = sys.executable
    if "--engine" in args and args[args.index("--engine") + 1] == "vllm" and not importlib.util.find_spec("vllm") \
            and VLLM_PYTHON.exists():
        python = str(VLLM_PYTHON)
    return ServiceProcess(section.replace("_", "-"), "--host", "127.0.0.1", *settings, *args, log_path=log_path,
                          timeout=timeout, python=python)


def start_services(args: dict[str, list[str]], log_paths: dict[str, Path] | None = None,
                   timeout: float = 300, config_file: str | Path | None = None) -> dict[str, ServiceProcess]:
    """`start_service(section, *args[section], config_file=...)` for every section at once, waiting until all listen:
    each spends its start importing and loading a model, mostly on one core (four took 18 s at
    once on two cores, 28 s one by one). If one fails, those that started are stopped and its
    error is raised."""
    log_paths = log_paths or {}
    with ThreadPoolExecutor(max(len(args), 1)) as pool:
        futures = {section: pool.submit(start_service, section, *section_args, log_path=log_paths.get(section),
                                        timeout=timeout, config_file=config_file)
                   for section, section_args in args.items()}
    started = {section: future.result() for section, future in futures.items() if future.exception() is None}
    failed = [future.exception() for future in futures.values() if future.exception() is not None]
    if failed:
        stop_services(started.values())
        raise failed[0]
    return started


def stop_services(services: Iterable[ServiceProcess]) -> None:
    """`terminate` every service at once: each drains on its own, so this takes the slowest's
    time, not the sum (about 1 s a service on two cores)."""
    services = list(services)
    with ThreadPoolExecutor(max(len(services), 1)) as pool:
        list(pool.map(ServiceProcess.terminate, services))
