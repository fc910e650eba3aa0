"""Shared by the benchmarks: the models they run."""

from __future__ import annotations

from pathlib import Path


def model_dirs(tiny: bool) -> tuple[Path, Path]:
    """(policy dir, reward-model dir): SmolLM2-135M (the demo's model) or tiny random Llamas."""
    from rlhf.models import smollm2

    if tiny:
        import tempfile

        from rlhf.models.tiny import make_tiny_models

        paths = make_tiny_models(tempfile.mkdtemp(), smollm2.tokenizer_dir())
        return paths["policy"], paths["reward"]
    # A reward model with SmolLM2's trunk: same cost per item as the demo's RM.
    return smollm2.model_dir(), smollm2.model_dir()
