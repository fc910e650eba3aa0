"""Shared by the benchmarks: the models they run."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable


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


def timed_callers(callers: int, work: Callable[[int], None], prepare: Callable[[int], None] = lambda i: None) -> float:
    """Runs prepare(i) then work(i) on one thread per caller; returns the seconds the `work` calls
    took together, timed from when every caller is prepared (connected, warmed up)."""
    barrier = threading.Barrier(callers + 1)

    def caller(i: int) -> None:
        prepare(i)
        barrier.wait()
        work(i)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start
