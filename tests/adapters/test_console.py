"""The console adapter, in-process through the App and as a user runs it: `paperbot run` in a pipe."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from adapters.console import ConsoleAdapter
from bot.app import App
from bot.config import Config
from bot.models import Card, Link, Post
from tests.conftest import NOW
from tests.fakes.digests import post_digest


async def run_console(config: Config, script: str) -> str:
    out = io.StringIO()
    console = ConsoleAdapter(io.StringIO(script), out, interactive=False, user="alice")
    assert not console.connected
    async with App(config, [console]) as app:
        await app.wait_until_stopped()  # the console asks to stop at end of input
    assert not console.connected  # its input ended: what /healthz would report
    return out.getvalue()


async def test_track_duplicate_and_list_in_one_script(config: Config) -> None:
    out = await run_console(config, "/track video retrieval\n/track Video  Retrieval\n/tracked\n")
    assert 'Now tracking "video retrieval"' in out
    assert 'already tracks "video retrieval"' in out
    assert "tracks 1 query:\n• video retrieval" in out


async def test_channels_are_separate_and_dms_get_help(config: Config) -> None:
    out = await run_console(
        config, "/track diffusion\n/channel #vision\n/tracked\n/channel #bad name!\nwhat is this?\n\n"
    )
    assert "Now in #vision." in out
    assert "This channel tracks nothing yet" in out
    assert "Usage: /channel #name" in out
    assert "Send me an arXiv id" in out


async def test_digest_is_printed_with_thread_items_indented(config: Config) -> None:
    out = io.StringIO()
    console = ConsoleAdapter(io.StringIO(""), out, interactive=False)
    card = Card(
        "Dual Learning for Video Retrieval",
        "https://arxiv.org/abs/2510.12283",
        authors="A. One, B. Two, C. Three et al.",
        meta=("cs.CV · cs.IR",),
        body="TL;DR: distils a teacher into a compact student.",
        links=(Link("PDF", "https://arxiv.org/pdf/2510.12283"),),
    )
    general = ConsoleAdapter.channel_ref("general")
    head = Post("arXiv digest, Thu 20 Nov 2026: 1 new paper", ("video retrieval: 1",))
    parent, ids = await post_digest(console, general, head, [card])
    lines = out.getvalue().splitlines()
    assert lines[0] == "[#general] paperbot: arXiv digest, Thu 20 Nov 2026: 1 new paper"
    assert lines[1] == "    video retrieval: 1"
    assert lines[2] == "    └ Dual Learning for Video Retrieval <https://arxiv.org/abs/2510.12283>"
    assert all(line.startswith("        ") for line in lines[3:])
    assert len(ids) == 1 and parent not in ids
    # A thread resumed after a restart says where it continues; a terminal cannot be read back.
    restarted_out = io.StringIO()
    restarted = ConsoleAdapter(io.StringIO(""), restarted_out, interactive=False)
    await restarted.post_reply(general, parent, "+3 more — /papers video retrieval", "k1.f")
    assert restarted_out.getvalue().splitlines() == [
        f"[#general] (continuing thread {parent})",
        "    └ +3 more — /papers video retrieval",
    ]
    assert await restarted.find_posted(general, parent, {"k1.f": "+3 more"}, NOW) == {}


def paperbot(args: list[str], stdin: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_paperbot_run_in_a_pipe_persists_across_restarts(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISCORD_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
    }
    # The start-up catch-up asks arXiv for missed days: aim it at a closed local port, never the network.
    config = tmp_path / "config.toml"
    config.write_text(
        '[arxiv]\napi_url = "http://127.0.0.1:9/api/query"\nfeed_url = "http://127.0.0.1:9"\n'
        "min_interval_s = 0.01\nmax_retries = 1\ntimeout_s = 1\n",
        encoding="utf-8",
    )
    env["PAPERBOT_CONFIG"] = str(config)
    env["PAPERBOT_DATABASE"] = str(tmp_path / "bot.db")
    first = paperbot(["run"], "/track video retrieval\n/track Video  Retrieval\n/tracked\n", env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("• video retrieval") == 1
    assert "already tracks" in first.stdout

    second = paperbot(["run"], "/tracked\n/track\n", env)
    assert second.returncode == 0, second.stderr
    assert "• video retrieval" in second.stdout
    assert "Usage: /track <query>" in second.stdout


async def test_like_topics_and_likes_in_the_console(config: Config) -> None:
    from storage import Store
    from tests.fakes.clusters import unrelated, video_retrieval

    async with await Store.open(config.database_path) as store:
        await store.papers.upsert_many(video_retrieval(NOW.date()) + unrelated(50, NOW.date()), NOW)
    out = await run_console(
        config,
        "/track like:2510.12283\n/tracked\n/papers like:2510.12283 3\n/like 2510.10180\n/dislike 2208.12510\n"
        "/settings learn off\n/like nonsense\n",
    )
    assert 'Now tracking "like:2510.12283" in this channel: papers similar to "Dual Learning' in out
    assert '• like:2510.12283 — papers similar to "Dual Learning' in out
    assert "The 3 stored papers most similar to like:2510.12283:" in out
    assert 'Noted: 👍 "TCMA: Text-Conditioned' in out and 'Noted: 👎 "PRVR: Partially' in out
    assert "Learning from reactions is off." in out
    assert "Usage: /like <arXiv id>" in out
