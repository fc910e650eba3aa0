"""A real Label Studio server for the tests: `label-studio start` from its own environment
(.venv-labelstudio, `make label-studio-env`) on a free port with a fresh SQLite data directory,
plus labeler accounts with personal access tokens (ls_users.py, run by Label Studio's Python)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
LS_VENV = ROOT / ".venv-labelstudio"
LS_BIN = LS_VENV / "bin" / "label-studio"
LS_PYTHON = LS_VENV / "bin" / "python"
ADMIN = "admin@rlhf.test"
LABELERS = ("ann@rlhf.test", "bob@rlhf.test", "cat@rlhf.test")
START_TIMEOUT_S = 240  # about 45 s on an idle machine; the migrations of a fresh database are most of it


def ls_env(data_dir: Path) -> dict:
    # No version check against PyPI and no analytics: CI has no business calling out. One fixed
    # SECRET_KEY for the server and ls_users.py: left unset, each process reads or appends a key in
    # DIR/.env on its own, and a token signed with another key than the server's is refused.
    return {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir), "LATEST_VERSION_CHECK": "false",
            "COLLECT_ANALYTICS": "false", "LABEL_STUDIO_USERNAME": ADMIN, "LABEL_STUDIO_PASSWORD": ADMIN,
            "SECRET_KEY": "rlhf-tests-only-not-a-secret"}


class LabelStudioServer:
    """`label-studio ARGS` (default: start on a free port) with `env`, until `stop`."""

    def __init__(self, data_dir: Path, args: list[str] | None = None, env: dict | None = None,
                 port: int | None = None, users: bool = True):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "label-studio.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        args = args or ["start", "--no-browser", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen([str(LS_BIN), *args], cwd=data_dir, env=env or ls_env(data_dir),
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_healthy()
        self.tokens = self._make_users([ADMIN, *LABELERS]) if users else {}

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"Label Studio did not answer {self.url}/health within {START_TIMEOUT_S}s; log:\n"
                           + self.log_path.read_text()[-4000:])

    def _make_users(self, emails: list[str]) -> dict[str, str]:
        out = subprocess.run([str(LS_PYTHON), str(Path(__file__).with_name("ls_users.py")), *emails],
                             cwd=self.data_dir, env=ls_env(self.data_dir), capture_output=True, text=True, timeout=120,
                             check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the server and the workers it started
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
