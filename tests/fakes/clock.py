"""Time the test drives: a wall clock and a monotonic clock that move together, and a sleep that
moves them instead of waiting (for the arXiv throttle, the harvest's `now`, re-polls)."""

from __future__ import annotations

from datetime import datetime, timedelta


class FakeTime:
    """`now()` for the harvest, `monotonic()` and `sleep()` for the throttle; `sleeps` records waits."""

    def __init__(self, start: datetime) -> None:
        self.wall = start
        self.mono = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)

    def at(self, when: datetime) -> None:
        """Jump to `when` (later)."""
        self.advance((when - self.wall).total_seconds())

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))


class Clock:
    """The App's wall clock, set by the test: `clock.now = ...`."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
