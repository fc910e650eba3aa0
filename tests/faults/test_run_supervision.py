"""`rlhf run` supervises its services: one killed mid-run is reported at once (exit code, log) and
restarted on its port, and the run finishes; SIGTERM on the run stops every service it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.e2e.test_run import ROOT, TINY
from tests.faults.conftest import wait_for


class Run:
    """`rlhf run` on the tiny models as a process whose output lines are collected as they come."""

    def __init__(self, tiny_models, runs_dir: Path, run_id: str):
        cmd = [sys.executable, "-m", "pipelines.cli", "run", "--base-model", str(tiny_models["policy"]),
               "--run-id", run_id, "--set", f"run.runs_dir={runs_dir}", "--set", "clients.max_backoff_s=1"]
        for item in TINY:
            cmd += ["--set", item]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()

    def line(self, text: str) -> str | None:
        return next((line for line in list(self.lines) if text in line), None)

    def service_pid(self, name: str) -> int:
        """The pid of the service `name` this run started last (a child of the run)."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid and name.encode() in cmdline:
                children.append(int(stat.parent.name))
        assert children, f"no {name} child of the run"
        return max(children)

    @property
    def output(self) -> str:
        return "".join(self.lines)


def test_killed_services_are_restarted_on_their_port_and_the_run_finishes(tiny_models, tmp_path):
    run = Run(tiny_models, tmp_path, "killed")
    try:
        # reference-kl killed at start went unnoticed through label and RM before; reward-scoring
        # killed as PPO starts failed the run.
        for name in ("reference-kl", "reward-scoring"):
            wait_for(lambda: run.line(f"run: {name} on "), 600, f"{name} started")
            port = run.line(f"run: {name} on ").split(" on ")[1].split()[0].rsplit(":", 1)[1]
            killed_at = time.monotonic()
            os.kill(run.service_pid(name), signal.SIGKILL)
            wait_for(lambda: run.line(f"run: {name} exited with code -9"), 10, f"{name}'s death reported")
            assert time.monotonic() - killed_at < 5
            report = run.line(f"run: {name} exited with code -9")
            assert f"(log {tmp_path / 'killed' / 'logs' / name}.log)" in report and f"on port {port}" in report
            wait_for(lambda: run.line(f"run: {name} is back on 127.0.0.1:{port}"), 300, f"{name} back")
        assert run.proc.wait(900) == 0, run.output[-4000:]
    finally:
        run.proc.kill()
    assert (tmp_path / "killed" / "report.md").exists()


def test_sigterm_stops_the_run_and_every_service(tiny_models, tmp_path):
    run = Run(tiny_models, tmp_path, "stopped")
    try:
        wait_for(lambda: run.line("run: reference-kl on "), 600, "three services started")
        pids = [run.service_pid(name) for name in ("data-store", "policy-inference", "reference-kl")]
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(120) != 0
    finally:
        run.proc.kill()
    for pid in pids:
        wait_for(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2],
                 30, f"service {pid} stopped")
