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


@pytest.mark.parametrize("written", ["1e-5", "2E-5", "1.0e-5", "0.00001"])
def test_floats_in_scientific_notation_through_set_and_yaml(written, tmp_path):
    """YAML 1.1 reads `1e-5` and `2E-5` as strings; a float field takes them as the number meant."""
    expected = float(written)
    assert load_config(overrides=[f"ppo.learning_rate={written}"]).ppo.learning_rate == expected
    path = tmp_path / "config.yaml"
    path.write_text(f"ppo:\n  learning_rate: {written}\n  kl_coef: '{written}'\n")
    config = load_config(path)
    assert config.ppo.learning_rate == config.ppo.kl_coef == expected


def test_integers_rendered_in_exponent_form_are_read_exactly():
    """Helm renders a large integer value as 1e+06; an int field reads it back, but not 1.5."""
    assert load_config(overrides=["ppo.kl_horizon=1e+06"]).ppo.kl_horizon == 1_000_000
    with pytest.raises(ConfigError, match="ppo.kl_horizon: expected int, got 1.5"):
        load_config(overrides=["ppo.kl_horizon=1.5"])


@pytest.mark.parametrize("override, message", [
    ("sft.batch_size=0", "sft.batch_size: 0 is out of range: must be >= 1"),
    ("sft.epochs=-1", "sft.epochs: -1.0 is out of range: must be > 0"),
    ("ppo.learning_rate=-1", "ppo.learning_rate: -1.0 is out of range: must be > 0"),
    ("label.k=10", "label.k: 10 is out of range: must be <= 9"),
    ("label.noise=1.5", "label.noise: 1.5 is out of range: must be <= 1"),
    ("services.data_store.port=70000", "services.data_store.port: 70000 is out of range: must be <= 65535"),
    ("ppo.gamma=.nan", "ppo.gamma: expected a finite float"),
    ("ppo.push_dtype=fp16", "ppo.push_dtype: 'fp16' is not one of 'bfloat16', 'float32'"),
    ("label.source=humans", "label.source: 'humans' is not one of 'simulated', 'import'"),
    ("ppo.stepz=3", "ppo.stepz: unknown field of PPOConfig (did you mean 'steps'?"),
])
def test_out_of_range_and_misspelt_values_name_the_field(override, message):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[override])
    assert message in str(info.value)


def test_every_numeric_field_has_a_range():
    """A new numeric field without its valid range would let a bad value through to training."""
    import dataclasses
    import typing

    from rlhf.config import Range

    def numeric_fields(cls, path=""):
        hints = typing.get_type_hints(cls, include_extras=True)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            if dataclasses.is_dataclass(tp):
                yield from numeric_fields(tp, f"{path}{f.name}.")
            elif typing.get_origin(tp) is typing.Annotated or tp in (int, float):
                yield f"{path}{f.name}", tp

    unranged = [name for name, tp in numeric_fields(Config)
                if not any(isinstance(extra, Range) for extra in getattr(tp, "__metadata__", ()))]
    assert unranged == []
