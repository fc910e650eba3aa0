"""`keep_freed_memory`: glibc serves large blocks from its heap instead of mapping each one fresh,
unless the user chose the allocator already. Each case runs in a fresh interpreter, as a command does."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from rlhf.allocator import KEEP_FREED_MEMORY_ENV

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt and mallinfo2 are glibc's")

APPLY = "from rlhf.allocator import keep_freed_memory; applied = keep_freed_memory()"
# Allocates one 48 MiB block and prints `applied` and how many blocks glibc mapped for it: above
# 32 MiB, glibc's default threshold (even as it adapts) always maps a block.
PROBE = """
import ctypes
libc = ctypes.CDLL("libc.so.6")
class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = Mallinfo2
libc.malloc.restype = ctypes.c_void_p
before = libc.mallinfo2().hblks
block = libc.malloc(48 << 20)
mapped = libc.mallinfo2().hblks - before
libc.free(ctypes.c_void_p(block))
print(applied, mapped)
"""


def probe(apply: str = APPLY, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "LD_PRELOAD", KEEP_FREED_MEMORY_ENV)}
    result = subprocess.run([sys.executable, "-c", apply + "\n" + PROBE], env={**clean, **env}, capture_output=True, text=True,
                            timeout=60, check=True)
    return result.stdout.strip()


def test_large_blocks_come_from_the_heap():
    assert probe() == "True 0"


def test_glibc_defaults_map_them_when_switched_off():
    assert probe(**{KEEP_FREED_MEMORY_ENV: "0"}) == "False 1"


def test_an_allocator_the_user_chose_is_left_alone():
    assert probe(MALLOC_TRIM_THRESHOLD_="131072") == "False 1"
    assert probe(GLIBC_TUNABLES="glibc.malloc.check=0") == "False 1"


def test_every_command_applies_it():
    command = ("from pipelines.cli import main\napplied = 'cli'\ntry:\n    main(['--help'])\n"
               "except SystemExit:\n    pass")
    assert probe(command).endswith("cli 0")
