"""Big freed blocks go back to the system (glibc), so a digest run's batches do not pile up in the heap."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from bot.runtime.allocator import return_big_blocks

# Freed megabyte blocks, each beside a small block that stays: in the heap, their pages stay
# with the process; mapped on their own, they are given back when freed.
_SCRIPT = textwrap.dedent(
    """
    import sys
    from bot.runtime.allocator import return_big_blocks

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    if sys.argv[1] == "fixed":
        assert return_big_blocks()
    first = bytearray(4_000_000)  # freed: glibc raises its threshold to this, unless fixed
    del first
    kept, big = [], []
    for _ in range(40):
        big.append(bytearray(1_000_000))
        kept.append(bytearray(2_000))
    before = rss_mb()
    del big
    print(before - rss_mb())
    """
)


def _returned_mb(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", _SCRIPT, mode], capture_output=True, text=True, check=True)
    return float(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_megabyte_blocks_go_back_to_the_system() -> None:
    if not return_big_blocks():
        pytest.skip("the C library is not glibc")
    assert _returned_mb("fixed") > 30  # of 40 MB freed
