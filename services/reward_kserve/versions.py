"""The loaded versions of the reward model, and where new ones come from.

A request looks its version up once, when it is admitted, and carries that `RewardVersion` through
the batch queue: a swap never changes the model under a request in flight. New versions are
loaded on a thread of their own (not the model thread, which keeps scoring), then published by
replacing the whole registry dict in one assignment.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from rlhf.config import ConfigError, RewardServingConfig
from rlhf.storage.versions import fetch_version, list_versions, version_uri
from services.reward import RewardVersion, load_version

log = logging.getLogger("rlhf.services.reward_kserve")


class VersionNotFound(FileNotFoundError):
    """A pinned version that is not loaded: NOT_FOUND (gRPC) / 404 (REST)."""


class RewardVersions:
    """The `keep` newest loaded versions by name; no version asked for means the newest."""

    def __init__(self, model_name: str, keep: int = 2):
        self.model_name = model_name
        self.keep = max(1, keep)
        self._loaded: dict[str, RewardVersion] = {}  # newest first; replaced whole, never mutated

    def get(self, version: str | None = None) -> RewardVersion:
        loaded = self._loaded  # one read: the same dict for the lookup and the message
        if not version:
            return next(iter(loaded.values()))
        found = loaded.get(version)
        if found is None:
            raise VersionNotFound(f"model {self.model_name!r} version {version!r} is not loaded; loaded versions: "
                                  f"{', '.join(loaded)} (no version means the newest, {next(iter(loaded))})")
        return found

    def names(self) -> list[str]:
        """Loaded versions, newest first."""
        return list(self._loaded)

    def newest(self) -> int:
        return int(next(iter(self._loaded), "0"))

    def add(self, version: RewardVersion) -> None:
        merged = sorted({**self._loaded, version.name: version}.items(), key=lambda item: -int(item[0]))
        self._loaded = dict(merged[:self.keep])


class StoreVersions:
    """Versions published under `<store>/<repository>/` (rlhf.storage.versions), loaded into a
    RewardVersions registry at start and whenever a newer one appears."""

    def __init__(self, registry: RewardVersions, store_uri: str, repository: str, service: str):
        self.registry = registry
        self.store_uri = store_uri
        self.repository = repository
        self.service = service
        self.failed: set[str] = set()

    def load(self, name: str) -> RewardVersion:
        """Downloads and loads one version (blocking; run it off the event loop)."""
        with tempfile.TemporaryDirectory(prefix=f"rlhf-reward-{name}-") as tmp:
            model_dir = fetch_version(self.store_uri, self.repository, name, Path(tmp) / "model")
            return load_version(model_dir, name=name, service=self.service,
                                model_name=version_uri(self.store_uri, self.repository, name))

    async def load_initial(self, interval: float) -> None:
        """Loads the `keep` newest versions; waits (polling) until there is at least one."""
        where = f"{self.store_uri.rstrip('/')}/{self.repository}"
        while not (names := await asyncio.to_thread(list_versions, self.store_uri, self.repository)):
            print(f"{self.service}: no published version under {where} yet; waiting", flush=True)
            await asyncio.sleep(interval)
        for name in names[-self.registry.keep:]:
            self.registry.add(await asyncio.to_thread(self.load, name))
            print(f"{self.service}: loaded version {name} from {where}", flush=True)

    async def poll(self, interval: float) -> None:
        """Loads the newest version whenever it is newer than every loaded one. A store outage or a
        broken upload is logged and the versions already loaded keep serving."""
        while True:
            await asyncio.sleep(interval)
            try:
                names = await asyncio.to_thread(list_versions, self.store_uri, self.repository)
            except Exception:
                log.exception("%s: listing %s/%s failed", self.service, self.store_uri, self.repository)
                continue
            newest = names[-1] if names else None
            if newest is None or int(newest) <= self.registry.newest() or newest in self.failed:
                continue
            try:
                version = await asyncio.to_thread(self.load, newest)
            except Exception:
                log.exception("%s: version %s cannot be loaded; version %s stays the default", self.service,
                              newest, self.registry.names()[0])
                self.failed.add(newest)  # not downloaded again every interval; publish a new version
                continue
            self.registry.add(version)
            print(f"{self.service}: loaded version {newest}; it is now the default "
                  f"(loaded: {', '.join(self.registry.names())})", flush=True)


def check_source(config: RewardServingConfig) -> None:
    if config.model and config.repository:
        raise ConfigError("reward_serving.repository: set either reward_serving.model (one local directory) "
                          "or reward_serving.repository (versions in the store), not both")
    if not config.model and not config.repository:
        raise ConfigError("reward_serving.model: no reward model; set reward_serving.model (a directory, --model) "
                          "or reward_serving.repository (versions in the store, --repository)")
    if config.model and not (Path(config.model) / "config.json").is_file():
        raise ConfigError(f"reward_serving.model: {config.model}: no model here (config.json missing)")
