"""RewardScoring over gRPC: (prompt, completion) texts in, one reward each out, from the reward
model in `services/reward.py` (the pieces reward-kserve serves too)."""

from __future__ import annotations

from rlhf.config import Config, ConfigError, ServiceConfig
from rlhf.proto.v1 import reward_scoring_pb2_grpc
from services.reward import SERVICE, RewardScoringServicer, load_version, reward_batcher
from services.runtime import Service


def build(service_config: ServiceConfig, config: Config) -> Service:
    """Loads the reward model and its own tokenizer from `service_config.model`."""
    if not service_config.model:
        raise ConfigError("services.reward_scoring.model: no reward model directory given (--model DIR)")
    version = load_version(service_config.model)
    servicer = RewardScoringServicer(lambda: version, reward_batcher(SERVICE, service_config), service_config)
    return Service(name=SERVICE, full_name="rlhf.v1.RewardScoring", servicer=servicer,
                   add_to_server=reward_scoring_pb2_grpc.add_RewardScoringServicer_to_server,
                   batcher=servicer.batcher)
