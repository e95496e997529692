"""A process-wide setting changed while any thread is inside, and put back when the last one leaves.

The collector paused (bot.runtime.memory) and a short GIL switch interval (bot.runtime.gil) are such settings:
several runs and worker threads may be inside at once, and the first to leave must not undo it
for the others.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class WhileInside(Generic[T]):
    """`change()` as the first caller enters (it returns the old value), `restore(old)` as the last leaves."""

    def __init__(self, change: Callable[[], T], restore: Callable[[T], None]) -> None:
        self._change = change
        self._restore = restore
        self._lock = threading.Lock()
        self._depth = 0  # callers inside now
        self._saved: list[T] = []  # what to put back, while anyone is inside

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._saved = [self._change()]
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    self._restore(self._saved.pop())
