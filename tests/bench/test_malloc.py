"""bench/malloc.py: after `keep_freed_memory`, a large block allocated on a worker thread comes from
the heap (glibc's `mallinfo2().hblkhd`, bytes in mmap-served blocks, does not grow); by default it is
mmap-served."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import ctypes, sys, threading
sys.path.insert(0, {root!r})
from bench.malloc import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
seen = []

def allocate():  # a worker thread, as XLA's runtime allocates its buffers
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(200 * 2**20)
    seen.append(libc.mallinfo2().hblkhd - before)
    libc.free(ctypes.c_void_p(block))

thread = threading.Thread(target=allocate)
thread.start(); thread.join()
print(kept, seen[0])
"""


def probe(mode: str) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(root=str(ROOT)), mode], capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt/mallinfo2 are glibc's (Linux)")
def test_keep_freed_memory_serves_large_blocks_from_the_heap():
    kept, mapped = probe("keep")
    assert kept == "True" and mapped == 0
    _, mapped_by_default = probe("default")
    assert mapped_by_default >= 200 * 2**20
