"""What `rlhf run` checks before it starts anything."""

from __future__ import annotations

import pytest

from pipelines.local import check_run_config
from rlhf.config import ConfigError, load_config


def test_label_studio_rankings_in_rlhf_run_need_the_label_stage_to_wait():
    with pytest.raises(ConfigError, match="label.label_studio.wait_timeout_s: rlhf run .* must wait for the labelers"):
        check_run_config(load_config(overrides=["label.source=label-studio"]))
    check_run_config(load_config(overrides=["label.source=label-studio", "label.label_studio.wait_timeout_s=3600"]))
    check_run_config(load_config())
