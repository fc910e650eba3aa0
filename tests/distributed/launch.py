"""Runs a stage under `torchrun --standalone --nproc_per_node 2` (gloo on CPU), as a PyTorchJob pod does."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from rlhf.config import Config

ROOT = Path(__file__).resolve().parents[2]


def torchrun(stage: str, config: Config, tmp_path: Path, *args: str, nproc: int = 2) -> str:
    """`rlhf train <stage>` in `nproc` processes; returns stdout (the test fails with both logs' tails)."""
    path = tmp_path / f"config-{stage}-{len(list(tmp_path.glob('config-*')))}.json"
    path.write_text(json.dumps(dataclasses.asdict(config)))
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
         "-m", "pipelines.cli", "train", stage, "--config", str(path), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def assert_sharded(stdout: str, stage: str, what: str = "") -> None:
    """Both ranks of an FSDP2 run hold disjoint halves of the model's parameters (from the stage's
    start-up lines `<stage>: rank R of 2 (fsdp) holds N of M <what>parameters`; the two ranks share
    one pipe, so a line's newline may come after the other rank's text: no line anchors)."""
    held = {int(rank): (int(local), int(total)) for rank, local, total in
            re.findall(rf"{stage}: rank (\d) of 2 \(fsdp\) holds (\d+) of (\d+) {what}parameters", stdout)}
    assert set(held) == {0, 1}, stdout[-2000:]
    (l0, total), (l1, _) = held[0], held[1]
    assert l0 + l1 == total and max(l0, l1) < 0.6 * total, held
