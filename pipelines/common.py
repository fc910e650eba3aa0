"""What every stage entrypoint needs: resolving model names, seeding, a metrics log, clients."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlhf.atomic import write_file
from rlhf.config import Config, service_address
from rlhf.data.records import RecordSets


def resolve_model(name: str) -> Path:
    """A model directory. "smollm2" is the bundled SmolLM2-135M-Instruct (converted once, cached); a
    store URI (s3://..., file://...) is downloaded into the cache, again only when it changed."""
    from rlhf.models import smollm2
    from rlhf.storage.dirs import cached_dir, is_uri

    if name == "smollm2":
        return smollm2.model_dir()
    if is_uri(name):
        return cached_dir(name, smollm2.cache_dir() / "store")
    path = Path(name)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path}: no model here (config.json missing); run the stage that writes it first")
    return path


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def autocast(enabled: bool):
    """bf16 autocast on CPU/GPU: about 1.8x faster here; weights and optimizer stay fp32 (pure bf16
    weights lose small updates)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.autocast(device, dtype=torch.bfloat16, enabled=enabled)


class MetricsLog:
    """Appends one JSON object per step to a JSONL file and mirrors numbers into Prometheus gauges."""

    def __init__(self, path: str | Path, stage: str, registry=None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.stage = stage
        self.registry = registry
        self._gauges: dict[str, Any] = {}

    def drop_after(self, step: int) -> None:
        """Keeps only the rows of steps up to `step`: a run resumed from its checkpoint at `step`
        writes the later ones again (and a fresh run, at step 0, starts an empty log). A line cut
        short by a killed trainer goes too."""
        if not self.path.exists():
            return

        def row_step(line: str) -> float:
            try:
                return json.loads(line).get("step", 0)
            except ValueError:
                return float("inf")

        kept = [line for line in self.path.read_text().splitlines() if line.strip() and row_step(line) <= step]
        data = "".join(line + "\n" for line in kept).encode()
        write_file(self.path, lambda f: f.write(data))

    def write(self, **metrics: Any) -> None:
        record = {"stage": self.stage, "time": time.time(), **metrics}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.registry is not None:
            import prometheus_client as prom

            for key, value in metrics.items():
                if isinstance(value, (int, float)):
                    if key not in self._gauges:
                        self._gauges[key] = prom.Gauge(f"rlhf_{self.stage}_{key}", f"{self.stage} {key}",
                                                       registry=self.registry)
                    self._gauges[key].set(value)


def wins_against(labeler, records: list[dict], mine: list[str], reference: list[str]) -> list[bool]:
    """Per prompt: did the labeler rank `mine` above `reference` (the SFT policy's completion)?"""
    return [labeler.rank(record, [a, b])[0] == 0 for record, a, b in zip(records, mine, reference)]


def publish(local_dir: Path, uri: str, stage: str) -> None:
    """Uploads a stage's output directory to `uri` (its `output_uri`), if one is set."""
    if uri:
        from rlhf.storage.dirs import upload_dir

        objects = upload_dir(local_dir, uri)
        print(f"{stage}: uploaded {len(objects)} files to {uri}", flush=True)


def metrics_path(output_dir: str | Path) -> Path:
    """Where a stage logs its per-step metrics: next to its output directory, <dir>_metrics.jsonl."""
    output_dir = Path(output_dir)
    return output_dir.parent / f"{output_dir.name}_metrics.jsonl"


def read_jsonl(path: str | Path) -> list[dict]:
    path = Path(path)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def data_store(config: Config):
    from rlhf.clients.data_store import DataStoreClient

    return DataStoreClient(service_address(config, "data_store"), config.clients)


def all_records(store, record_set: str) -> list[dict]:
    """Every record of a set, in stored order (a set is the object records/<set>.jsonl)."""
    return [json.loads(line) for line in store.get(RecordSets.key(record_set)).decode().splitlines() if line]
