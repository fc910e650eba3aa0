"""What every stage entrypoint needs: resolving model names, seeding, a metrics log, clients."""

from __future__ import annotations

import enum
import hashlib
import json
import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlhf.atomic import write_file
from rlhf.clients.data_store import DataStoreClient
from rlhf.config import Config, service_address, to_dict
from rlhf.labelers import SimulatedLabeler
from rlhf.storage.dirs import cached_dir, is_uri, upload_dir


def resolve_model(name: str) -> Path:
    """A model directory. "smollm2" is the bundled SmolLM2-135M-Instruct (converted once, cached); a
    store URI (s3://..., file://...) is downloaded into the cache, again only when it changed."""
    from rlhf.models import smollm2  # transformers, only when a model is resolved

    if name == "smollm2":
        return smollm2.model_dir()
    if is_uri(name):
        return cached_dir(name, smollm2.cache_dir() / "store")
    path = Path(name)
    if not (path / "config.json").exists():
        if not path.exists() and re.fullmatch(r"[\w.-]+/[\w.-]+", name):
            raise FileNotFoundError(
                f"{name}: no such directory; if it is a Hugging Face hub id, this machine may be offline and the "
                f"stages never download: fetch it where the hub is reachable (`huggingface-cli download {name} "
                f"--local-dir DIR`), then pass DIR, or `rlhf store upload DIR s3://BUCKET/models/NAME` and pass that URI")
        raise FileNotFoundError(f"{path}: no model here (config.json missing); run the stage that writes it first")
    return path


def config_hash(config: Config) -> str:
    """12 hex chars of sha256 over the config as the stages and services see it, less where the
    services listen (`rlhf run` picks their ports at start: not a setting of the run)."""
    settings = to_dict(config)
    settings["services"] = {name: {k: v for k, v in service.items() if k not in ("host", "port")}
                            for name, service in settings["services"].items()}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


class SeedUse(enum.IntEnum):
    """What a derived seed is for: part of its key, so two uses never share a stream."""

    PROCESS = 1       # seed_everything of one rank
    ROLLOUT = 2       # a PPO step's Generate
    MINIBATCHES = 3   # a PPO epoch's minibatch order
    LABEL = 4         # the label stage's sampling
    DISPLAY_ORDER = 5  # the order a Label Studio task shows its completions in


def derive_seed(seed: int, use: SeedUse, *coordinates: int) -> int:
    """A 63-bit seed for one use of randomness (a rank, a step, an epoch...) derived from the run's
    seed through numpy's SeedSequence, so distinct coordinates never collide: hand arithmetic such
    as seed*97 + epoch*7 + rank gives rank 7 of epoch 0 the seed of rank 0 of epoch 1."""
    return int(np.random.SeedSequence([seed, int(use), *coordinates]).generate_state(1, np.uint64)[0] >> 1)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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


def judge(records: list[dict], mine: list[str], reference: list[str],
          scores: tuple[list[float], list[float]] | None = None) -> tuple[list[float], list[str]]:
    """Per prompt, how `mine` fared against `reference` (the SFT policy's completion): 1 a win, 0.5
    a tie, 0 a loss, and who judged it. The simulated labeler judges prompts with constraints (it
    only judges verifiable ones); the reward model judges the rest by `scores` = (mine, reference),
    the RM's scores of both completions of every prompt (needed only when some prompt has none)."""
    outcomes, judges = [], []
    for index, (record, a, b) in enumerate(zip(records, mine, reference, strict=True)):
        if SimulatedLabeler.can_judge(record):
            outcomes.append(SimulatedLabeler.compare(record, a, b))
            judges.append("simulated labeler")
            continue
        if scores is None:
            raise ValueError(f"prompt {index} has no constraints: the reward model must judge it, but no scores were given")
        a_score, b_score = scores[0][index], scores[1][index]
        outcomes.append(1.0 if a_score > b_score else 0.5 if a_score == b_score else 0.0)
        judges.append("reward model")
    return outcomes, judges


def describe_judges(judges: list[str]) -> str:
    """"simulated labeler", "reward model", or both with how many prompts each judged."""
    counts = {name: judges.count(name) for name in dict.fromkeys(judges)}
    if len(counts) == 1:
        return next(iter(counts))
    return " and ".join(f"{name} ({count} prompts)" for name, count in counts.items())


def within_max_length(lengths: list[int], records: list[dict], record_set: str, stage: str, max_length: int,
                      skip: bool) -> list[int]:
    """Indices of the records whose sequences (`lengths`, in tokens) fit `max_length`, checked once
    before training. One that does not is an error naming the set, line and id, unless `skip`:
    then such records are dropped and counted."""
    over = [i for i, length in enumerate(lengths) if length > max_length]
    if over and not skip:
        first = over[0]
        record_id = f" (id {records[first]['id']!r})" if "id" in records[first] else ""
        raise ValueError(f"{stage}.max_length: record set {record_set!r} line {first + 1}{record_id} is "
                         f"{lengths[first]} tokens, max {max_length} ({len(over)} of {len(records)} records are "
                         f"longer); raise {stage}.max_length, or set {stage}.skip_overlength=true to skip them")
    if over:
        print(f"{stage}: skipped {len(over)} of {len(records)} records of {record_set!r} over {max_length} tokens",
              flush=True)
    dropped = set(over)
    return [i for i in range(len(lengths)) if i not in dropped]


def publish(local_dir: Path, uri: str, stage: str) -> None:
    """Uploads a stage's output directory to `uri` (its `output_uri`), if one is set."""
    if uri:
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
    return DataStoreClient(service_address(config, "data_store"), config.clients)
