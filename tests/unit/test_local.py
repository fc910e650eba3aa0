"""pipelines.local: what `rlhf run` checks before it starts anything, and how it starts policy-inference."""

from __future__ import annotations

import logging

import pytest

from pipelines.data import DEMO_SETS
from pipelines.local import PRESET_DATA, PRESETS, check_run_config, console_log, policy_engine
from rlhf.config import Config, ConfigError, load_config


def test_label_studio_rankings_in_rlhf_run_need_the_label_stage_to_wait():
    with pytest.raises(ConfigError, match="label.label_studio.wait_timeout_s: rlhf run .* must wait for the labelers"):
        check_run_config(load_config(overrides=["label.source=label-studio"]))
    check_run_config(load_config(overrides=["label.source=label-studio", "label.label_studio.wait_timeout_s=3600"]))
    check_run_config(load_config())


@pytest.mark.parametrize("engine, max_lora_rank, trained, flags", [
    ("hf", 0, 16, ["--engine", "hf"]),  # "hf" merges adapters of any rank
    ("vllm", 0, 0, ["--engine", "vllm"]),  # no LoRA: no adapter memory set aside
    ("vllm", 0, 12, ["--engine", "vllm", "--max-lora-rank", "16"]),  # the smallest vLLM takes that holds 12
    ("vllm", 64, 12, ["--engine", "vllm", "--max-lora-rank", "64"]),  # as configured
])
def test_policy_engine_flags_follow_the_config(engine, max_lora_rank, trained, flags):
    config = Config()
    config.services.policy_inference.engine = engine
    config.services.policy_inference.max_lora_rank = max_lora_rank
    config.ppo.lora.rank = trained
    assert policy_engine(config) == flags


def test_validation_preset_keeps_every_choice_off_the_heldout_prompts():
    """`--preset validation`: the RM's held-out comparisons, PPO's in-training win rate and the report
    all come from prompts/validation, which the preset imports from the demo; what the
    label stage and PPO train on stays prompts/train."""
    config = load_config(overrides=PRESETS["validation"])
    assert config.label.heldout_prompts == config.ppo.eval_prompts == config.eval.prompts == "prompts/validation"
    assert config.label.prompts == config.ppo.prompts == "prompts/train"
    assert "prompts/validation" in DEMO_SETS and PRESET_DATA["validation"] == {"prompts/validation": "demo"}
    assert "prompts/validation" not in Config().run.data  # your own data runs import none of the demo's
    default = Config()
    assert default.label.heldout_prompts == default.ppo.eval_prompts == default.eval.prompts == "prompts/heldout"


def test_a_logger_made_during_one_run_still_writes_after_it(tmp_path, capsys):
    """`rlhf run --seeds`: a logging handler created in seed 0 holds seed 0's console stream; in the
    next seed it writes to the console, not to seed 0's closed console.log (a "Logging error" before)."""
    logger = logging.getLogger("test_local.console")
    with console_log(tmp_path / "seed0.log"):
        handler = logging.StreamHandler()  # binds sys.stderr now: seed 0's tee
        logger.addHandler(handler)
        logger.warning("during seed 0")
    try:
        with console_log(tmp_path / "seed1.log"):
            logger.warning("during seed 1")
    finally:
        logger.removeHandler(handler)
    assert (tmp_path / "seed0.log").read_text() == "during seed 0\n"
    assert capsys.readouterr().err == "during seed 0\nduring seed 1\n"
