"""Exactly once under kill -9: `paperbot run` against the fake Slack and Discord, killed and restarted.

See tests/fakes/kills.py for the harness; benchmarks/bench_faults.py runs it with a hundred kills.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.kills import run_with_kills


@pytest.mark.parametrize("platform", ["slack", "discord"])
async def test_killed_at_random_points_every_digest_is_whole_and_nothing_is_twice(
    tmp_path: Path, platform: str
) -> None:
    report = await run_with_kills(tmp_path, platform, kills=5, channels=6, papers=5, cap=3, seed=12)
    assert report.kills == 5, report
    assert report.clean, report.line()
    assert report.cards == report.channels // 2 * (5 + 3) and report.channels >= 6
