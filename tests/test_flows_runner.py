import subprocess
import sys

import pytest

from flows import runner

# Frees 256 MiB of 64 KiB blocks (malloc's heap, below its mmap threshold), each followed by a
# small block that stays, so the freed memory is not at the heap's top and glibc keeps it.
HELD_AFTER_FREE = """
import os, sys
from flows.runner import give_back_memory
def rss_mib():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
blocks, pins = [], []
for _ in range(4096):
    blocks.append(bytearray(64 * 1024))
    pins.append(bytearray(1024))
del blocks
held = rss_mib()
give_back_memory()
print(held, rss_mib())
"""


@pytest.mark.skipif(runner._MALLOC_TRIM is None or not sys.platform.startswith("linux"),
                    reason="glibc's malloc_trim and /proc")
def test_memory_freed_inside_mallocs_heap_goes_back_to_the_system():
    out = subprocess.run([sys.executable, "-c", HELD_AFTER_FREE], capture_output=True, text=True, check=True)
    held, after = map(float, out.stdout.split())
    assert held - after > 200  # MiB of the 256 freed



ARROW_POOL = """
import pyarrow as pa
import flows.runner
print(pa.default_memory_pool().backend_name)
"""


@pytest.mark.skipif(runner._MALLOC_TRIM is None, reason="glibc's malloc")
def test_arrow_allocates_from_malloc_unless_a_pool_is_named(monkeypatch):
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    out = subprocess.run([sys.executable, "-c", ARROW_POOL], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "system"
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
    out = subprocess.run([sys.executable, "-c", ARROW_POOL], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "jemalloc"
