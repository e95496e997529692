"""/healthz and /metrics over real HTTP against the running App, and the faults they report.

Health: the database takes writes (another process holding the write lock makes it fail), the
latest harvest and its age, each adapter connected (the fake Slack dropping the Socket Mode
connection makes it fail). Metrics: Prometheus text, parsed back, after a harvest through the
fake arXiv (with a 503 on the way), a digest, a refused channel and a command.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.console import ConsoleAdapter
from adapters.slack import SlackAdapter
from adapters.slack.config import SlackConfig
from bot.app import App
from bot.arxiv.calendar import ARXIV_TZ
from bot.config import ArxivConfig, Config, OpsConfig, Secret
from bot.errors import ConfigError
from bot.models import ChannelRef, Platform
from bot.ops import health, metrics
from tests.conftest import GENERAL, command
from tests.fakes.arxiv_server import FakeArxiv, Fault, load_sample
from tests.fakes.recording import RecordingAdapter
from tests.fakes.slack_server import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack, form_body, running

PAPERS = load_sample()
DAY = date(2025, 10, 15)  # a Wednesday
HARVEST_AT = datetime.combine(DAY, time(0, 30), ARXIV_TZ)
NOW = datetime(2025, 10, 15, 9, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_ops(config: Config, port: int | None = None, **ops: Any) -> Config:
    return replace(config, ops=OpsConfig(http_port=port or free_port(), http_host="127.0.0.1", **ops))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def get(port: int, path: str) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as response:
        text = await response.text()
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, text, body


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics answer: (name, sorted labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    async with running() as server:
        yield server


async def test_off_by_default(config: Config) -> None:
    async with App(config, [RecordingAdapter(name="console")]) as app:
        assert app.ops is None
        assert (await app.health()).ok  # the check itself still works, e.g. for tests and tools


async def test_healthz_reports_each_check_and_200_when_all_pass(config: Config) -> None:
    async with App(with_ops(config), [RecordingAdapter(name="console")], clock=lambda: NOW) as app:
        assert app.ops is not None
        status, _, body = await get(app.ops.port, "/healthz")
    assert status == 200
    assert body["status"] == "ok" and body["version"]
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["harvest"] == {"ok": True, "status": "none yet"}
    assert body["checks"]["adapters"] == {"ok": True, "console": {"connected": None}}


async def test_a_database_that_takes_no_writes_fails_health(
    config: Config, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="bot.ops.server")
    # The store waits out a lock (with backoff, for minutes); the probe gives up at its own bound.
    monkeypatch.setattr(health, "DATABASE_TIMEOUT_S", 0.3)
    async with App(with_ops(config), [RecordingAdapter(name="console")]) as app:
        assert app.ops is not None
        # Another process holds the write lock (a stuck `paperbot harvest`, a backup tool).
        await app.store.db.conn.execute("PRAGMA busy_timeout = 50")
        other = sqlite3.connect(config.database_path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            status, _, body = await get(app.ops.port, "/healthz")
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert status == 503 and body["status"] == "failing"
        assert body["checks"]["database"]["ok"] is False
        assert "locked" in body["checks"]["database"]["error"]
        assert (await get(app.ops.port, "/healthz"))[0] == 200  # the lock is gone: healthy again
        assert (await get(app.ops.port, "/healthz"))[0] == 200
    # The operator's log has the change of state, once each way, not every probe.
    changes = [
        r.getMessage()
        for r in caplog.records
        if r.name == "bot.ops.server" and "health check" in r.getMessage()
    ]
    assert (
        len(changes) == 2
        and "no write within 0.3 s (locked or stuck)" in changes[0]
        and changes[1] == "health check passing again"
    )


async def test_harvest_health_follows_the_latest_run_and_its_age(config: Config) -> None:
    clock = Clock(NOW)
    async with App(
        with_ops(config, harvest_max_age_hours=80), [RecordingAdapter(name="console")], clock=clock
    ) as app:
        assert app.ops is not None
        runs = app.store.harvests
        ok = await runs.start(NOW - timedelta(hours=30), DAY - timedelta(days=1))
        await runs.finish(
            ok, NOW - timedelta(hours=30), status="ok", announced=DAY - timedelta(days=1), requests=2
        )
        failed = await runs.start(NOW - timedelta(hours=6), DAY)
        await runs.fail(failed, NOW - timedelta(hours=6), "arXiv is unavailable: HTTP 503")
        # One failure after a recent success: arXiv had a bad hour, the catch-up fills the day.
        status, _, body = await get(app.ops.port, "/healthz")
        assert status == 200
        harvest = body["checks"]["harvest"]
        assert harvest["status"] == "failed" and harvest["announced"] == DAY.isoformat()
        assert harvest["age_seconds"] == 6 * 3600 and harvest["last_worked_age_seconds"] == 30 * 3600
        assert harvest["error"] == "arXiv is unavailable: HTTP 503"
        # Days later, still failing: unhealthy.
        clock.now = NOW + timedelta(hours=60)
        status, _, body = await get(app.ops.port, "/healthz")
        assert status == 503 and body["checks"]["harvest"]["ok"] is False
        assert body["checks"]["database"]["ok"] is True  # only the harvest check failed
        # A harvest that works makes it healthy again.
        good = await runs.start(clock.now, DAY + timedelta(days=1))
        await runs.finish(good, clock.now, status="no_announcement", announced=None, requests=1)
        assert (await get(app.ops.port, "/healthz"))[0] == 200


async def test_a_disconnected_adapter_fails_health(config: Config, fake_slack: FakeSlack) -> None:
    adapter = SlackAdapter(
        Secret(BOT_TOKEN),
        Secret(APP_TOKEN),
        None,
        SlackConfig(api_url=fake_slack.api_url),
        posts_per_second=0,
    )
    async with App(with_ops(config), [adapter]) as app:
        assert app.ops is not None
        status, _, body = await get(app.ops.port, "/healthz")
        assert status == 200 and body["checks"]["adapters"]["slack"] == {"connected": True}
        fake_slack.accept_connections = False  # Slack restarts the connection and is slow to take it back
        await fake_slack.drop_socket()
        await fake_slack.wait_for(lambda: not adapter.connected)
        status, _, body = await get(app.ops.port, "/healthz")
        assert status == 503
        assert body["checks"]["adapters"] == {"ok": False, "slack": {"connected": False}}
    assert not adapter.connected


async def test_slack_http_mode_shares_its_port(config: Config, fake_slack: FakeSlack) -> None:
    port = free_port()
    settings = SlackConfig(api_url=fake_slack.api_url, mode="http", http_host="127.0.0.1", http_port=port)
    adapter = SlackAdapter(Secret(BOT_TOKEN), None, Secret(SIGNING_SECRET), settings, posts_per_second=0)
    async with App(with_ops(config.with_section("slack", settings), port), [adapter]) as app:
        assert app.ops is None  # no server of its own: the routes are on Slack's
        status, _, body = await get(port, "/healthz")
        assert status == 200 and body["checks"]["adapters"]["slack"] == {"connected": True}
        status, text, _ = await get(port, "/metrics")
        assert status == 200 and "paperbot_build_info" in text
        # Slack's own route still works on the same port.
        payload = fake_slack.slash_payload("/tracked", "")
        body_text = form_body(payload)
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{port}/slack/events",
                data=body_text,
                headers=FakeSlack.signed_headers(body_text),
            ) as response,
        ):
            assert response.status == 200


async def test_a_port_in_use_is_a_clear_error(config: Config) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        with pytest.raises(ConfigError, match=f"ops.http_port: cannot listen on 127.0.0.1:{port}"):
            async with App(with_ops(config, port), [RecordingAdapter(name="console")]):
                pass


async def test_metrics_count_arxiv_harvests_digests_failures_and_commands(
    config: Config, arxiv_server: FakeArxiv, arxiv_config: ArxivConfig
) -> None:
    clock, adapter = Clock(HARVEST_AT - timedelta(days=1)), RecordingAdapter(name="console")
    unreachable = ChannelRef(Platform.CONSOLE, "local", "gone", "gone")
    adapter.unreachable.add(unreachable)
    arxiv_server.announce(PAPERS[:3], DAY)
    arxiv_server.script(Fault.http(503, path_prefix="/atom"))
    config = with_ops(replace(config, arxiv=arxiv_config))
    async with App(config, [adapter], clock=clock) as app:
        assert app.ops is not None
        before = samples((await get(app.ops.port, "/metrics"))[1])
        for channel in (GENERAL, unreachable):
            reply = await app.command(command("/track video retrieval", channel))
            assert reply.text.startswith("Now tracking")
        report = await app.harvester.harvest(HARVEST_AT, needed=[frozenset({"cs.CV"})])
        assert report.status == "ok" and [d.new for d in report.days] == [3]
        clock.now = HARVEST_AT + timedelta(hours=9)
        outcomes = await app.jobs.deliver_channels([GENERAL, unreachable])
        assert [o.status for o in outcomes] == ["posted", "unreachable"]
        status, text, _ = await get(app.ops.port, "/metrics")
    assert status == 200
    after = samples(text)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("paperbot_arxiv_requests_total", endpoint="feed") == 2  # the 503, then the retry
    assert grew("paperbot_arxiv_request_failures_total", endpoint="feed", reason="http_503") == 1
    assert grew("paperbot_papers_stored_total", announce_type="new") == 3
    assert value(after, "paperbot_harvest_papers", announce_type="new") == 3
    assert (
        value(after, "paperbot_harvest_announced_timestamp_seconds")
        == datetime(2025, 10, 15, tzinfo=UTC).timestamp()
    )
    assert grew("paperbot_harvest_duration_seconds_count", status="ok") == 1
    assert grew("paperbot_digests_posted_total", platform="console") == 1
    assert grew("paperbot_cards_posted_total", platform="console") == 3
    assert grew("paperbot_delivery_failures_total", platform="console", reason="unreachable") == 1
    assert grew("paperbot_command_duration_seconds_count", command="track", platform="console") == 2
    assert value(after, "paperbot_build_info", version=__import__("bot").__version__) == 1


def test_a_catch_up_counts_every_day_it_stored_and_the_gauges_show_the_newest() -> None:
    def sample(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    before = sample("paperbot_papers_stored_total", announce_type="new")
    # Today's day is read first, then the days the catch-up owes: the older one comes last.
    metrics.harvested("ok", 2.0, [(DAY, {"new": 3, "cross": 1}), (DAY - timedelta(days=1), {"new": 5})])
    assert sample("paperbot_papers_stored_total", announce_type="new") == before + 8
    assert sample("paperbot_harvest_papers", announce_type="new") == 3
    assert sample("paperbot_harvest_papers", announce_type="cross") == 1
    assert (
        sample("paperbot_harvest_announced_timestamp_seconds")
        == datetime(2025, 10, 15, tzinfo=UTC).timestamp()
    )


async def test_command_names_in_metrics_are_bounded(config: Config) -> None:
    async with App(with_ops(config), [RecordingAdapter(name="console")]) as app:
        assert app.ops is not None
        await app.command(command("/no-such-command-" + "x" * 50))
        text = (await get(app.ops.port, "/metrics"))[1]
    assert "no-such-command" not in text
    assert (
        value(samples(text), "paperbot_command_duration_seconds_count", command="other", platform="console")
        >= 1
    )


async def test_the_console_counts_as_connected_while_it_reads_its_input(config: Config) -> None:
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "r", encoding="utf-8") as reader, os.fdopen(write_fd, "w") as writer:
        console = ConsoleAdapter(reader, io.StringIO(), interactive=False)
        async with App(config, [console]) as app:
            assert (await app.health()).body["checks"]["adapters"] == {
                "ok": True,
                "console": {"connected": True},
            }
            writer.close()  # end of input: the console stops, and says so
            await app.wait_until_stopped()
            health = await app.health()
        assert not health.ok and health.body["checks"]["adapters"]["console"] == {"connected": False}
