"""LLM TL;DRs: the real `openai` package against a local fake OpenAI-compatible endpoint.

Once per paper, cached; concurrent within the limit; any error, timeout or spent budget gives
the extractive TL;DR and the digest goes out on time. Off by default.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bot import cli
from bot.app import App
from bot.config import Config, LlmConfig, Secret, Secrets, load_config
from bot.config_check import describe
from bot.digest.llm import clean
from bot.digest.tldr import tldr
from bot.errors import ConfigError
from bot.models import ChannelRef, Platform
from tests.conftest import GENERAL, NOW, command
from tests.fakes.cards import CardsAdapter
from tests.fakes.clock import Clock
from tests.fakes.clusters import video_retrieval
from tests.fakes.openai_server import FakeOpenAI, running, title_of

START = NOW - timedelta(days=2)  # when the test begins: the channel tracks its topics
KEY = "sk-test-do-not-log-me"
PAPERS = video_retrieval(NOW.date() - timedelta(days=1))[:6]
OTHER = ChannelRef(Platform.CONSOLE, "local", "reading", "reading")


@pytest.fixture
async def llm() -> AsyncIterator[FakeOpenAI]:
    async with running() as fake:
        yield fake


def with_llm(config: Config, fake: FakeOpenAI, **options: object) -> Config:
    settings = replace(LlmConfig(base_url=fake.base_url, model="tiny-model", timeout_s=5.0), **options)  # type: ignore[arg-type]
    return replace(
        config, llm=settings, secrets=Secrets({**config.secrets.by_name, "PAPERBOT_LLM_API_KEY": Secret(KEY)})
    )


async def digest_of(
    config: Config, papers: int = 3, channels: tuple[ChannelRef, ...] = (GENERAL,)
) -> CardsAdapter:
    """Track video retrieval in `channels`, harvest `papers`, deliver; the cards posted."""
    clock, adapter = Clock(START), CardsAdapter()
    async with App(config, [adapter], clock=clock) as app:  # type: ignore[arg-type]
        for channel in channels:
            await app.command(command("/track video retrieval", channel))
        await app.store.papers.upsert_many(PAPERS[:papers], NOW - timedelta(hours=2))
        clock.now = NOW
        outcomes = await app.jobs.deliver_channels(list(channels))
        assert all(o.status == "posted" for o in outcomes), outcomes
    return adapter


async def test_tldrs_come_from_the_llm_once_per_paper_and_say_so(config: Config, llm: FakeOpenAI) -> None:
    adapter = await digest_of(with_llm(config, llm), channels=(GENERAL, OTHER))
    assert len(adapter.cards) == 6  # three papers, two channels
    assert len(llm.requests) == 3  # one request per paper, shared by both channels
    for card in adapter.cards:
        assert card.body.startswith("TL;DR (LLM): This paper (") and card.body.endswith(
            "does one thing well."
        )
    request = llm.requests[0]
    assert request.authorization == f"Bearer {KEY}" and request.body["model"] == "tiny-model"
    assert {title_of(r.body) for r in llm.requests} == {p.title for p in PAPERS[:3]}


async def test_requests_run_concurrently_within_the_limit(config: Config, llm: FakeOpenAI) -> None:
    llm.delay = 0.2
    started = time.monotonic()
    await digest_of(with_llm(config, llm, concurrency=2), papers=6)
    assert llm.max_in_flight == 2 and len(llm.requests) == 6
    assert time.monotonic() - started < 6 * 0.2 + 2  # in parallel, not one after another


@pytest.mark.parametrize("fault", ["status 500", "status 429", "not json", "empty answer"])
async def test_any_error_falls_back_to_the_extractive_tldr(
    config: Config, llm: FakeOpenAI, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    if fault.startswith("status"):
        llm.status = int(fault.split()[1])
    elif fault == "not json":
        llm.malformed = True
    else:
        llm.answer = lambda body: "  **  ``  "
    caplog.set_level(logging.DEBUG)
    adapter = await digest_of(with_llm(config, llm))
    assert [c.body for c in adapter.cards] == [f"TL;DR: {tldr(p.abstract)}" for p in PAPERS[:3]]
    assert KEY not in caplog.text
    assert "LLM TL;DR of" in caplog.text


async def test_a_slow_endpoint_never_holds_the_digest_past_the_timeout(
    config: Config, llm: FakeOpenAI
) -> None:
    llm.delay = 30
    started = time.monotonic()
    adapter = await digest_of(with_llm(config, llm, timeout_s=0.5))
    assert time.monotonic() - started < 5
    assert all(c.body.startswith("TL;DR: ") for c in adapter.cards)


async def test_the_daily_budget_counts_requests_and_then_falls_back(config: Config, llm: FakeOpenAI) -> None:
    adapter = await digest_of(with_llm(config, llm, max_papers_per_day=2), papers=5)
    assert len(llm.requests) == 2
    assert sum(c.body.startswith("TL;DR (LLM): ") for c in adapter.cards) == 2
    assert sum(c.body.startswith("TL;DR: ") for c in adapter.cards) == 3


async def test_the_days_matches_are_summarised_after_the_harvest_before_any_digest(
    config: Config, llm: FakeOpenAI
) -> None:
    clock, adapter = Clock(START), CardsAdapter()
    async with App(with_llm(config, llm), [adapter], clock=clock) as app:  # type: ignore[arg-type]
        await app.command(command("/track video retrieval"))
        await app.store.papers.upsert_many(PAPERS[:4], NOW - timedelta(hours=8))
        clock.now = NOW - timedelta(hours=8)
        await app.jobs.enrich_matches()  # what the harvest job does once it stored new papers
        assert len(llm.requests) == 4
        llm.status = 500  # the endpoint goes down before the digest: the stored TL;DRs are used
        clock.now = NOW
        await app.jobs.deliver_channels([GENERAL])
    assert len(llm.requests) == 4
    assert all(c.body.startswith("TL;DR (LLM): ") for c in adapter.cards)


def test_answers_are_cleaned_to_one_plain_sentence() -> None:
    assert (
        clean('TL;DR: **This paper** distils a teacher. It also "does" more.')
        == "This paper distils a teacher."
    )
    assert clean('"Summary - A `model` for video retrieval."') == "A model for video retrieval."
    assert clean("x" * 1000).endswith("…") and len(clean("x" * 1000)) <= 300
    assert clean("") == "" and clean("bad\x00text") == "" and clean("\ud800 broken") == ""


def test_llm_is_off_by_default_and_config_check_says_whether_it_is_on(tmp_path: Path) -> None:
    assert "# LLM TL;DRs: off (set llm.base_url and llm.model" in describe(load_config(None, environ={}))
    path = tmp_path / "config.toml"
    path.write_text('[llm]\nbase_url = "http://localhost:11434/v1"\nmodel = "llama3.2"\n', encoding="utf-8")
    text = describe(load_config(path, environ={"PAPERBOT_LLM_API_KEY": KEY}))
    assert "# LLM TL;DRs: on, llama3.2 at http://localhost:11434/v1 (PAPERBOT_LLM_API_KEY set)" in text
    assert "# PAPERBOT_LLM_API_KEY: **********" in text and KEY not in text
    path.write_text('[llm]\nbase_url = "http://localhost:11434/v1"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config\.toml: llm\.base_url: llm\.model is needed too"):
        load_config(path, environ={})
    # Like every key, from the environment too (a container's way).
    env = {"PAPERBOT_LLM__MODEL": "qwen2.5", "PAPERBOT_LLM__TIMEOUT_S": "5", "PAPERBOT_LLM_API_KEY": KEY}
    llm = load_config(path, environ=env).llm
    assert (llm.enabled, llm.model, llm.timeout_s) == (True, "qwen2.5", 5.0)
    path.write_text('[llm]\nbase_url = "ftp://x"\nmodel = "m"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"llm\.base_url: 'ftp://x' is not an http\(s\) URL"):
        load_config(path, environ={})


def test_paperbot_config_check_prints_the_llm_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[llm]\nbase_url = "https://api.openai.com/v1"\nmodel = "gpt-4o-mini"\n', encoding="utf-8"
    )
    monkeypatch.setenv("PAPERBOT_LLM_API_KEY", KEY)
    assert cli.main(["config", "check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "LLM TL;DRs: on, gpt-4o-mini at https://api.openai.com/v1" in out and KEY not in out
