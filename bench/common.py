"""Shared by the benchmarks: start a service process on loopback and read its port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Service:
    def __init__(self, name: str, *args: str):
        cmd = [sys.executable, "-m", "pipelines.cli", "serve", name, "--port", "0", "--metrics-port", "-1", *args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        for line in self.proc.stdout:
            match = re.search(r"listening on (\S+:\d+)", line)
            if match:
                self.target = match.group(1)
                break
        else:
            raise RuntimeError(f"{name} exited before listening (code {self.proc.wait()})")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


def model_dirs(tiny: bool) -> tuple[Path, Path]:
    """(policy dir, reward-model dir): SmolLM2-135M (the demo's model) or tiny random Llamas."""
    from rlhf.models import smollm2

    if tiny:
        import tempfile

        from rlhf.models.tiny import make_tiny_models

        paths = make_tiny_models(tempfile.mkdtemp(), smollm2.tokenizer_dir())
        return paths["policy"], paths["reward"]
    # A reward model with SmolLM2's trunk: same cost per item as the demo's RM.
    return smollm2.model_dir(), smollm2.model_dir()
