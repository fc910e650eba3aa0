"""The `rlhf` command line: its flags are the config's fields (same names, types, help), values
given as flags are checked like --set, and each training stage's --help lists its own settings."""

from __future__ import annotations

import dataclasses

import pytest

from pipelines.cli import _config, _flag_overrides, build_parser
from rlhf.config import ConfigError, PPOConfig, RewardServingConfig, ServiceConfig, SFTConfig, field_docs


def test_serve_has_one_flag_per_service_and_reward_serving_field(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    documented = {**field_docs(RewardServingConfig), **field_docs(ServiceConfig)}  # a shared name: the service's doc
    for name, doc in documented.items():
        assert f"--{name.replace('_', '-')}" in text and doc[:40] in text, name


def test_serve_flags_are_checked_like_set():
    args = build_parser().parse_args(["serve", "data-store", "--port", "70000", "--batch-wait-ms", "1e-1"])
    overrides = _flag_overrides(args, ServiceConfig, "services.data_store")
    assert "services.data_store.port=70000" in overrides and "services.data_store.batch_wait_ms=1e-1" in overrides
    with pytest.raises(ConfigError, match="services.data_store.port: 70000 is out of range"):
        _config(args, overrides)
    args = build_parser().parse_args(["serve", "data-store", "--batch-wait-ms", "1e-1", "--host", "0.0.0.0"])
    config = _config(args, _flag_overrides(args, ServiceConfig, "services.data_store"))
    assert (config.services.data_store.batch_wait_ms, config.services.data_store.host) == (0.1, "0.0.0.0")


@pytest.mark.parametrize("stage, cls", [("sft", SFTConfig), ("ppo", PPOConfig)])
def test_each_training_stage_lists_its_own_settings(stage, cls, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", stage, "--help"])
    text = capsys.readouterr().out
    assert cls.__doc__.splitlines()[0] in text
    assert all(f"  {f.name} = " in text for f in dataclasses.fields(cls))
    assert ("--resume" in text) == (stage == "ppo")
