"""Commands at once and hostile input: atomic changes, and a clear answer for anything typed.

Many people (or one impatient person) send commands at the same moment; a channel's cap and its
settings must hold whatever the interleaving. And whatever text arrives, every command answers
with a sentence: never an internal error, never a traceback, nothing half-written.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import App
from bot.commands.dispatch import COMMANDS
from bot.config import Config
from bot.errors import INTERNAL_ERROR_REPLY
from bot.models import ChannelSettings, DirectMessage
from tests.conftest import ALICE, GENERAL, command
from tests.fakes.recording import RecordingAdapter


async def test_eighty_tracks_at_once_stop_at_the_cap(config: Config) -> None:
    async with App(config, [RecordingAdapter()]) as app:
        replies = await asyncio.gather(*(app.command(command(f"/track topic number {i}")) for i in range(80)))
        stored = await app.store.subscriptions.for_channel(GENERAL)
    assert len(stored) == config.bot.max_subscriptions_per_channel == 50
    tracked = [r for r in replies if r.text.startswith("Now tracking")]
    refused = [r for r in replies if "the limit is 50" in r.text]
    assert (len(tracked), len(refused)) == (50, 30)


async def test_the_same_query_twice_at_once_is_one_subscription(config: Config) -> None:
    async with App(config, [RecordingAdapter()]) as app:
        replies = await asyncio.gather(*(app.command(command("/track video retrieval")) for _ in range(10)))
        assert len(await app.store.subscriptions.for_channel(GENERAL)) == 1
    assert sum(r.text.startswith("Now tracking") for r in replies) == 1


async def test_two_settings_changes_at_once_both_hold(config: Config) -> None:
    async with App(config, [RecordingAdapter()]) as app:
        for round_ in range(20):
            time, size = f"08:{round_:02d}", 1 + round_
            await asyncio.gather(
                app.command(command(f"/settings time {time}")),
                app.command(command(f"/settings max {size}")),
            )
            assert await app.store.channels.settings(GENERAL) == ChannelSettings(None, time, size, False)


async def test_a_huge_count_for_papers_is_refused_politely(config: Config) -> None:
    async with App(config, [RecordingAdapter()]) as app:
        reply = await app.command(command("/papers video " + "9" * 5000))
        assert reply.text.startswith("n must be between 1 and") and len(reply.text) < 100
        reply = await app.command(command("/settings max " + "9" * 5000))
        assert "out of range" in reply.text and len(reply.text) < 300


async def test_a_lone_surrogate_is_refused_and_nothing_is_stored(config: Config) -> None:
    async with App(config, [RecordingAdapter()]) as app:
        for name in ("track", "untrack", "papers", "settings", "abstract"):
            reply = await app.command(command(f"/{name} video \ud800 retrieval"))
            assert "broken character" in reply.text, (name, reply.text)
        reply = await app.direct_message(DirectMessage(ALICE, "2401.01234 \udfff"))
        assert "broken character" in reply.text
        assert await app.store.subscriptions.for_channel(GENERAL) == []
    assert app.reporter.count == 0


async def test_invisible_characters_do_not_make_a_second_subscription_that_looks_the_same(
    config: Config,
) -> None:
    async with App(config, [RecordingAdapter()]) as app:
        first = await app.command(command("/track video retrieval"))
        assert first.text.startswith('Now tracking "video retrieval"')
        for disguised in ("\u202evideo retrieval", "video\u200b retrieval", "vid\u00adeo retrieval",
                          "ｖｉｄｅｏ retrieval", "video retrieval\u2066"):  # fmt: skip
            reply = await app.command(command(f"/track {disguised}"))
            assert reply.text == 'This channel already tracks "video retrieval".', disguised
        assert [s.query for s in await app.store.subscriptions.for_channel(GENERAL)] == ["video retrieval"]
        assert (await app.command(command("/untrack \u202evideo retrieval"))).text.startswith("Stopped")


# Text as it arrives from chat platforms: any code point (lone surrogates included, as JSON allows),
# query syntax, SQL- and markup-shaped strings, long runs of digits.
HOSTILE = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec=None), max_size=80),
    st.lists(
        st.sampled_from(['"', "(", ")", "OR", "AND", "-", "NOT", "ti:", "au:", "cat:", "*",
                         "'; DROP TABLE x;--", "<!channel>", "@everyone", "\\frac{a}{b}", "$x$",
                         "\u202e", "\x00", "9" * 4400, " "]),
        max_size=12,
    ).map(" ".join),
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(COMMANDS)), text=HOSTILE)
async def test_every_command_answers_any_text_with_a_sentence(config: Config, name: str, text: str) -> None:
    # /digest posts and /abstract asks arXiv (the config points at a closed port): both still answer.
    async with App(config, [RecordingAdapter()]) as app:
        reply = await app.command(command(f"/{name} {text}"))
        dm = await app.direct_message(DirectMessage(ALICE, text))
    assert reply.text and reply.text != INTERNAL_ERROR_REPLY, (name, text, reply.text)
    assert dm.text and dm.text != INTERNAL_ERROR_REPLY, (text, dm.text)
    assert app.reporter.count == 0
