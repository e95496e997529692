"""A digest run's freed memory goes back to the system (glibc): big blocks when freed, heap pages later."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# Each script runs in a process of its own (the test run's allocator is left alone) and prints the
# megabytes given back, or "no glibc".
_PROLOGUE = """
from bot.runtime.allocator import give_back, return_big_blocks

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

if not return_big_blocks():
    print("no glibc")
    raise SystemExit
"""

# Freed megabyte blocks, each beside a small block that stays. In the heap, their pages would stay
# with the process; mapped on their own, they are given back when freed.
_BIG_BLOCKS = """
first = bytearray(4_000_000)  # freed: glibc would raise its threshold to this, were it not fixed
del first
kept, big = [], []
for _ in range(40):
    big.append(bytearray(1_000_000))
    kept.append(bytearray(2_000))
before = rss_mb()
del big
print(before - rss_mb())
"""

# Blocks under the mapping threshold come from the heap: freed under blocks that stay, their pages
# stay with the process until the heap's free pages are given back.
_HEAP_PAGES = """
kept, freed = [], []
for _ in range(400):
    freed.append(bytearray(100_000))  # 100 KB: from the heap, under the 128 KiB threshold
    kept.append(bytearray(2_000))
del freed
before = rss_mb()
assert give_back()
print(before - rss_mb())
"""


def _given_back_mb(script: str) -> float:
    code = textwrap.dedent(_PROLOGUE) + textwrap.dedent(script)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    if out.stdout.strip() == "no glibc":
        pytest.skip("the C library is not glibc")
    return float(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_megabyte_blocks_go_back_to_the_system() -> None:
    assert _given_back_mb(_BIG_BLOCKS) > 30  # of 40 MB freed


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_runs_freed_heap_pages_are_given_back() -> None:
    assert _given_back_mb(_HEAP_PAGES) > 30  # of 40 MB freed (0 without giving them back)
