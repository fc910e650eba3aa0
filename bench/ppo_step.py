"""One PPO step through the services vs the same step with every model in-process.

Prints the time breakdown (generate, score + reference, train, weight push) of each and the
service overhead (target: under 10% of the step). Both runs use the same Trainer code; the
in-process run swaps the three model clients for local objects with the same methods.

    python bench/ppo_step.py            # SmolLM2-135M, the demo's settings
    python bench/ppo_step.py --tiny     # tiny random Llamas: checks the harness in seconds
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import model_dirs, ppo_stack  # noqa: E402
from pipelines.ppo import Trainer  # noqa: E402
from rlhf.clients.policy_inference import Generation  # noqa: E402
from rlhf.clients.reference_kl import LogProbsResult  # noqa: E402
from rlhf.config import Config  # noqa: E402
from rlhf.models import load_policy, load_reward_model, load_tokenizer, tokenizer_fingerprint  # noqa: E402
from rlhf.models.generation import GenerationItem, SamplingParams, generate_batch  # noqa: E402
from rlhf.models.scoring import completion_logprobs, reward_inputs, score_texts  # noqa: E402

PHASES = ("time_generate", "time_score_reference", "time_forward", "time_train", "time_push", "step_seconds")


class LocalPolicy:
    """PolicyInferenceClient's methods over the trainer's own model: nothing to push."""

    def __init__(self, trainer: Trainer):
        self.trainer = trainer

    def info(self):
        return SimpleNamespace(version=0, tokenizer_fingerprint=tokenizer_fingerprint(self.trainer.tokenizer))

    def update_weights(self, weights, version: int | None = None, dtype=None) -> int:
        return version or 0

    def generate(self, *, prompt_ids, max_new_tokens, temperature, seed, **_) -> Generation:
        tok = self.trainer.tokenizer
        params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature)
        was_training = self.trainer.policy.training
        self.trainer.policy.eval()
        out = generate_batch(self.trainer.policy, [GenerationItem(ids, params, (seed, i, 0))
                                                   for i, ids in enumerate(prompt_ids)],
                             eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        self.trainer.policy.train(was_training)
        return Generation(prompt_ids=prompt_ids, completion_ids=[np.asarray(c.token_ids) for c in out],
                          logprobs=[np.asarray(c.logprobs, dtype=np.float32) for c in out],
                          # Decoded here as policy-inference decodes them: the trainer scores these texts.
                          texts=tok.batch_decode([c.token_ids for c in out], skip_special_tokens=True),
                          finish_reasons=[c.finish_reason for c in out],
                          policy_version=0, n=1)

    def close(self) -> None:
        pass


class LocalReward:
    def __init__(self, rm_dir: Path):
        self.model, self.tokenizer = load_reward_model(rm_dir), load_tokenizer(rm_dir)

    def score(self, prompts, completions) -> list[float]:
        texts = [reward_inputs(self.tokenizer, p, c) for p, c in zip(prompts, completions)]
        return score_texts(self.model, self.tokenizer, texts, max_length=2048)

    def close(self) -> None:
        pass


class LocalReference:
    def __init__(self, policy_dir: Path):
        self.model = load_policy(policy_dir)
        self.fingerprint = tokenizer_fingerprint(load_tokenizer(policy_dir))

    def info(self):
        return SimpleNamespace(tokenizer_fingerprint=self.fingerprint)

    def logprobs(self, sequences, prompt_lengths, temperature: float = 1.0) -> LogProbsResult:
        return LogProbsResult(logprobs=completion_logprobs(self.model, sequences, prompt_lengths, temperature))

    def close(self) -> None:
        pass


def measure(config: Config, steps: int, local: tuple[Path, Path] | None) -> dict[str, float]:
    trainer = Trainer(config)
    if local:
        policy_dir, rm_dir = local
        trainer.policy_client, trainer.reward_client = LocalPolicy(trainer), LocalReward(rm_dir)
        trainer.reference_client = LocalReference(policy_dir)
    try:
        trainer.check_tokenizers()
        trainer.push_weights()
        rows = [trainer.train_step() for _ in range(steps + 1)][1:]  # the first step warms caches up
    finally:
        trainer.close()
    return {phase: statistics.median(r[phase] for r in rows) for phase in PHASES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny random models instead of SmolLM2-135M")
    parser.add_argument("--steps", type=int, default=2, help="measured steps per mode (after one warm-up)")
    args = parser.parse_args()
    policy_dir, rm_dir = model_dirs(args.tiny)
    with ppo_stack(policy_dir, rm_dir) as config:
        remote = measure(copy.deepcopy(config), args.steps, None)
        local = measure(copy.deepcopy(config), args.steps, (policy_dir, rm_dir))

    print(f"PPO step ({config.ppo.prompts_per_step} prompts x {config.ppo.max_new_tokens} new tokens, "
          f"{config.ppo.ppo_epochs} epochs; median of {args.steps} steps), seconds:")
    print(f"  {'phase':22s} {'services':>9s} {'in-process':>11s}")
    for phase in PHASES:
        print(f"  {phase.removeprefix('time_'):22s} {remote[phase]:9.2f} {local[phase]:11.2f}")
    ratio = remote["step_seconds"] / local["step_seconds"]
    print(f"  step ratio services / in-process: {ratio:.3f}  (service overhead {1 - 1 / ratio:+.1%}, "
          f"target under 10%)")


if __name__ == "__main__":
    main()
