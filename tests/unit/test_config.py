"""The config loader is strict and names the offending field and file."""

import json

import pytest

from rlhf.config import Config, ConfigError, from_dict, load_config, to_dict


def test_defaults_round_trip_through_a_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(to_dict(Config())))
    assert load_config(path) == Config()


def test_yaml_overrides_nested_fields(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("services:\n  reward_scoring:\n    port: 6000\n    batch_wait_ms: 2\nstore:\n  uri: s3://rlhf\n")
    config = load_config(path)
    assert config.services.reward_scoring.port == 6000
    assert config.services.reward_scoring.batch_wait_ms == 2.0
    assert config.services.policy_inference.port == 50051
    assert config.store.uri == "s3://rlhf"


@pytest.mark.parametrize("data, field", [
    ({"services": {"reward_scoring": {"port": "6000"}}}, "services.reward_scoring.port: expected int"),
    ({"services": {"rewards": {}}}, "services.rewards: unknown field of ServicesConfig"),
    ({"store": ["s3://x"]}, "store: expected a mapping"),
    ({"services": {"data_store": {"max_batch_size": True}}}, "services.data_store.max_batch_size: expected int"),
])
def test_bad_values_name_the_field(data, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        from_dict(Config, data)


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("store: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(path)
