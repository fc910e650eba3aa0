"""How a process of ours asks the C allocator for memory. No torch and no grpc here: the CLI calls
`keep_freed_memory` before it imports either."""

from __future__ import annotations

import ctypes
import os

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
KEEP_FREED_MEMORY_ENV = "RLHF_KEEP_FREED_MEMORY"
"""Set to 0 to leave glibc's defaults (what `bench/allocator.py` compares against)."""
_USER_ALLOCATOR_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES",
                       "LD_PRELOAD")


def keep_freed_memory() -> bool:
    """Asks glibc's malloc to keep freed memory for reuse: no mmap for large blocks and no trimming
    of the heap, for this process from now on. Returns whether it did.

    Every forward pass on the CPU allocates and frees the same activation-sized blocks (megabytes);
    by default glibc maps each one fresh from the kernel and unmaps it when it is freed, so every
    batch pays page faults again. Kept, the demo's SFT ran 9% faster and its PPO steps after the
    label stage 10% (docs/demo-results.md; `bench/allocator.py` compares the two side by side). The
    price: the process holds on to its peak memory. Skipped where the allocator was chosen already
    (MALLOC_* or GLIBC_TUNABLES set, or a library preloaded), with RLHF_KEEP_FREED_MEMORY=0, and off
    glibc (macOS)."""
    if os.environ.get(KEEP_FREED_MEMORY_ENV, "1") == "0" or any(os.environ.get(n) for n in _USER_ALLOCATOR_ENV):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    never = 1 << 30  # bytes: above any block our processes free and allocate again
    return bool(mallopt(_M_MMAP_THRESHOLD, never)) and bool(mallopt(_M_TRIM_THRESHOLD, never))
