"""The stages' shared pieces: who judges a win, the length check before training, and what a
model name that is not here says."""

from __future__ import annotations

import pytest

from pipelines.common import describe_judges, judge, resolve_model, within_max_length

LOWERCASE = {"prompt": "Answer in lowercase.", "constraints": [{"type": "lowercase"}]}
FREE = {"prompt": "Tell me about tea."}


def test_the_labeler_judges_constrained_prompts_and_the_reward_model_the_rest():
    records = [LOWERCASE, LOWERCASE, LOWERCASE, FREE, FREE, FREE]
    mine = ["all lowercase.", "Not Lowercase.", "same.", "a", "b", "c"]
    reference = ["Capitals Here.", "also lowercase.", "same.", "x", "y", "z"]
    scores = ([0.0, 0.0, 0.0, 2.0, 1.0, 0.5], [9.0, 9.0, 9.0, 1.0, 1.0, 0.7])  # ignored for constrained prompts
    outcomes, judges = judge(records, mine, reference, scores)
    assert outcomes == [1.0, 0.0, 0.5, 1.0, 0.5, 0.0]
    assert judges == ["simulated labeler"] * 3 + ["reward model"] * 3
    assert describe_judges(judges) == "simulated labeler (3 prompts) and reward model (3 prompts)"
    assert describe_judges(judges[:3]) == "simulated labeler"


def test_a_prompt_without_constraints_needs_reward_scores():
    with pytest.raises(ValueError, match="prompt 0 has no constraints"):
        judge([FREE], ["a"], ["b"])


def test_length_check_names_set_line_and_id_or_skips():
    records = [{"id": "a"}, {"id": "b"}, {}]
    assert within_max_length([3, 9, 4], records, "demonstrations", "sft", 8, skip=True) == [0, 2]
    with pytest.raises(ValueError, match=r"sft\.max_length: record set 'demonstrations' line 2 \(id 'b'\) is 9 tokens, "
                                         r"max 8 \(1 of 3 records are longer\)"):
        within_max_length([3, 9, 4], records, "demonstrations", "sft", 8, skip=False)


def test_a_hub_id_is_answered_with_how_to_provide_the_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"HuggingFaceTB/SmolLM2-360M: no such directory; if it is a Hugging "
                                                r"Face hub id.*rlhf store upload DIR"):
        resolve_model("HuggingFaceTB/SmolLM2-360M")


def test_derived_seeds_never_collide_across_ranks_steps_and_epochs():
    """64 ranks x 100 steps (x 2 epochs for minibatch orders): every seed distinct, unlike the old
    (seed*1_000_003 + step)*97 + epoch*7 + rank, where rank 7 / epoch 0 met rank 0 / epoch 1."""
    from pipelines.common import SeedUse, derive_seed

    rollouts = {derive_seed(0, SeedUse.ROLLOUT, step, rank) for step in range(100) for rank in range(64)}
    orders = {derive_seed(0, SeedUse.MINIBATCHES, step, epoch, rank)
              for step in range(100) for epoch in range(2) for rank in range(64)}
    assert len(rollouts) == 6400 and len(orders) == 12800 and not rollouts & orders
    assert derive_seed(0, SeedUse.ROLLOUT, 3, 1) == derive_seed(0, SeedUse.ROLLOUT, 3, 1) < 2**63
    assert derive_seed(1, SeedUse.ROLLOUT, 3, 1) != derive_seed(0, SeedUse.ROLLOUT, 3, 1)
    old = {(0 * 1_000_003 + step) * 97 + epoch * 7 + rank for step in range(100) for epoch in range(2)
           for rank in range(64)}
    assert len(old) < 12800  # what the derivation replaces did collide
