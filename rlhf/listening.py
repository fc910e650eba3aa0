"""The line a service prints once it accepts calls, and the reader of that line: `rlhf serve`
prints it (services/runtime.py, services/reward_kserve/server.py) and pipelines/processes.py waits
for it, so its format lives here alone. Printed after the health service says SERVING."""

from __future__ import annotations

import re

_LINE = re.compile(r"\S+ listening on (\S+):(\d+) metrics (\S+)")


def listening_line(service: str, host: str, port: int, metrics_url: str) -> str:
    """`NAME listening on HOST:PORT metrics URL` (URL "off" when the service has no /metrics)."""
    return f"{service} listening on {host}:{port} metrics {metrics_url}"


def parse_listening(line: str) -> tuple[str, str] | None:
    """(host:port, metrics URL) from a `listening_line`, or None for any other line."""
    match = _LINE.search(line)
    return (f"{match.group(1)}:{match.group(2)}", match.group(3)) if match else None
