"""`rlhf run --seeds 0 1 2` (`make demo-seeds`): the whole loop once per seed, and a table of every
number of the report with its mean and spread across seeds, so a reader can tell a result from
the noise of one run."""

from __future__ import annotations

import copy
import json
import statistics
import time
from pathlib import Path

from pipelines.local import run_local
from rlhf.config import Config, to_dict

# Written into a seed's run directory once its loop has finished: the settings it ran with.
SEED_SETTINGS = "seed_settings.json"

POLICY_NUMBERS = ("win_rate", "ties", "constraint_satisfaction", "all_constraints_met", "says_something",
                  "response_words", "reward_mean", "kl_to_sft", "perplexity")


def report_numbers(metrics: dict) -> dict[str, float]:
    """The report's numbers as flat names (`PPO win_rate`, `SFT satisfaction lowercase`, ...)."""
    numbers = {}
    for policy, values in metrics["policies"].items():
        numbers.update({f"{policy} {name}": values[name] for name in POLICY_NUMBERS if values.get(name) is not None})
        numbers.update({f"{policy} satisfaction {kind}": share
                        for kind, share in values.get("satisfaction_by_type", {}).items()})
    if metrics.get("rm_heldout_accuracy") is not None:
        numbers["RM heldout_accuracy"] = metrics["rm_heldout_accuracy"]
    return numbers


def seeds_table(runs: dict[int, dict]) -> str:
    """Markdown: one row per number, one column per seed, then the mean and the sample standard
    deviation (n - 1) across seeds; a number missing from a run is left out of its mean."""
    per_seed = {seed: report_numbers(metrics) for seed, metrics in runs.items()}
    names = list(dict.fromkeys(name for numbers in per_seed.values() for name in numbers))
    lines = ["| number | " + " | ".join(f"seed {seed}" for seed in runs) + " | mean | std |",
             "|---" * (len(runs) + 3) + "|"]
    for name in names:
        values = [per_seed[seed].get(name) for seed in runs]
        present = [v for v in values if v is not None]
        spread = statistics.stdev(present) if len(present) > 1 else float("nan")
        cells = ["" if v is None else f"{v:.4g}" for v in values]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {statistics.fmean(present):.4g} | {spread:.3g} |")
    return "\n".join(lines) + "\n"


def finished_metrics(run_dir: Path, settings: dict) -> dict | None:
    """The metrics of a seed's run that finished with exactly these settings, else None."""
    try:
        if json.loads((run_dir / SEED_SETTINGS).read_text()) == settings:
            return json.loads((run_dir / "metrics.json").read_text())
    except FileNotFoundError:
        pass
    return None


def run_seeds(config: Config, seeds: list[int], preset: str = "") -> Path:
    """Runs the loop for each seed (every stage's seed set to it) as runs/<id>-seed<N>/, then writes
    runs/<id>-seeds.md and .json. Returns the table's path.

    A seed whose run already finished with the same settings (same run id, preset and config) is
    read, not run again: an interrupted `--seeds` run goes on where it stopped. The code is not
    part of the settings; a new run id starts afresh."""
    base_id = config.run.run_id or time.strftime("%Y%m%d-%H%M%S")
    runs = {}
    for seed in seeds:
        seeded = copy.deepcopy(config)
        seeded.run.run_id = f"{base_id}-seed{seed}"
        for stage in (seeded.sft, seeded.label, seeded.rm, seeded.ppo, seeded.eval):
            stage.seed = seed
        settings = json.loads(json.dumps({"preset": preset, "config": to_dict(seeded)}))  # as read back
        run_dir = Path(seeded.run.runs_dir) / seeded.run.run_id
        runs[seed] = finished_metrics(run_dir, settings)
        if runs[seed] is not None:
            print(f"seeds: seed {seed} already finished in {run_dir} with these settings: reading its metrics", flush=True)
            continue
        run_dir = run_local(seeded, preset)
        runs[seed] = json.loads((run_dir / "metrics.json").read_text())
        (run_dir / SEED_SETTINGS).write_text(json.dumps(settings, indent=2))
    out = Path(config.run.runs_dir) / f"{base_id}-seeds.md"
    out.write_text(f"# {len(seeds)} seed{'s' if len(seeds) != 1 else ''} of run {base_id}\n\n" + seeds_table(runs))
    out.with_suffix(".json").write_text(json.dumps({seed: report_numbers(m) for seed, m in runs.items()}, indent=2))
    print(f"seeds: wrote {out}", flush=True)
    return out
