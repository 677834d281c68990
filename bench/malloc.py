"""Keep freed heap memory in the process (glibc `mallopt`), so a step's buffers are not faulted in anew.

XLA's CPU runtime allocates each executable's temporary buffer (hundreds of MB for the `small_32k`
train step) on every run and frees it afterwards. glibc serves such a block with `mmap` and returns it
with `munmap`, so every step pays the kernel for faulting in and zeroing every page again: about a fifth
of the step's CPU time (system time) in `bench/README.md`'s measurement. With one malloc arena, no
`mmap` for large blocks and no trimming, freed memory stays in the heap and the next step reuses it.

It must run before any other thread allocates (the top of `bench/run.py`); it changes allocation only,
never results, and applies to both sides of a comparison (torch allocates through the same malloc).
"""

from __future__ import annotations

import ctypes
import ctypes.util

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8
_NEVER_TRIM = 2**31 - 1


def keep_freed_memory() -> bool:
    """One arena, no mmap-served blocks, no trimming; False (nothing changed) where libc is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(param, value) == 1 for param, value in ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, _NEVER_TRIM)))
