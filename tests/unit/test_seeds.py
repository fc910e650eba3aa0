"""`rlhf run --seeds`: the table of every report number across seeds, with mean and spread."""

from __future__ import annotations

import json
import statistics

from pipelines.seeds import SEED_SETTINGS, finished_metrics, report_numbers, seeds_table


def metrics(win: float, sat: float | None, accuracy: float) -> dict:
    policy = {"win_rate": win, "ties": 2, "constraint_satisfaction": sat, "all_constraints_met": sat,
              "reward_mean": 0.1, "kl_to_sft": 1.5, "perplexity": 30.0,
              "satisfaction_by_type": {"lowercase": sat} if sat is not None else {}}
    return {"policies": {"PPO": policy}, "rm_heldout_accuracy": accuracy}


def test_every_number_gets_its_mean_and_sample_spread():
    table = seeds_table({0: metrics(0.6, 0.5, 0.7), 1: metrics(0.7, 0.6, 0.75), 2: metrics(0.8, None, 0.8)})
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()[2:]}
    assert set(rows) == set(report_numbers(metrics(0.6, 0.5, 0.7)))
    win = rows["PPO win_rate"].split(" | ")
    assert win[1:4] == ["0.6", "0.7", "0.8"] and win[4] == "0.7" and win[5].rstrip(" |") == f"{statistics.stdev([0.6, 0.7, 0.8]):.3g}"
    # A number one run lacks (no constraints there) is left out of its mean, not counted as 0.
    sat = rows["PPO satisfaction lowercase"].split(" | ")
    assert sat[3] == "" and sat[4] == "0.55"
    assert rows["RM heldout_accuracy"].split(" | ")[4] == "0.75"


def test_a_seed_finished_with_the_same_settings_is_read_not_rerun(tmp_path):
    settings = {"preset": "", "config": {"ppo": {"steps": 12, "seed": 1}}}
    assert finished_metrics(tmp_path, settings) is None  # nothing there
    (tmp_path / "metrics.json").write_text(json.dumps(metrics(0.6, 0.5, 0.7)))
    assert finished_metrics(tmp_path, settings) is None  # metrics of a run that did not finish as a seed
    (tmp_path / SEED_SETTINGS).write_text(json.dumps(settings))
    assert finished_metrics(tmp_path, settings) == metrics(0.6, 0.5, 0.7)
    assert finished_metrics(tmp_path, {"preset": "", "config": {"ppo": {"steps": 13, "seed": 1}}}) is None
    assert finished_metrics(tmp_path, {"preset": "tiny", "config": settings["config"]}) is None
