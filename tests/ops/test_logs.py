"""Log output: text or one JSON object per line (`--log-format json`, `bot.log_format`), never a secret."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import load_config
from bot.ops.logs import setup_logging
from tests.fakes.operator import paperbot

TOKEN = "xoxb-4242-4242-loggedbymistake"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines_of(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_hold_one_record_each_with_secrets_masked(restore_logging: None) -> None:
    config = load_config(
        None, environ={"SLACK_BOT_TOKEN": TOKEN, "SLACK_APP_TOKEN": "xapp-1-A0-99-secretapp"}
    )
    stream = io.StringIO()
    setup_logging("INFO", "json", config.redactor(), stream)
    log = logging.getLogger("bot.test")
    log.info("connected with %s to %s", TOKEN, "https://reader:hunter2@mirror.example/api")
    log.warning('two\nlines and a quote " and unicode ü', extra={"channel": "#papers"})
    try:
        raise RuntimeError(f"Slack said no to {TOKEN}")
    except RuntimeError:
        log.exception("posting failed")
    log.debug("not at INFO")
    text = stream.getvalue()
    assert TOKEN not in text and "hunter2" not in text and "secretapp" not in text
    first, second, third = lines_of(stream)  # exactly three lines, each one JSON object
    assert first["level"] == "INFO" and first["logger"] == "bot.test"
    assert first["message"] == "connected with ********** to https://reader:**********@mirror.example/api"
    assert str(first["time"]).endswith("+00:00")
    assert second["message"] == 'two\nlines and a quote " and unicode ü' and second["channel"] == "#papers"
    assert third["level"] == "ERROR" and "RuntimeError: Slack said no to **********" in str(
        third["exception"]
    )


def test_text_lines_are_masked_too(restore_logging: None) -> None:
    config = load_config(None, environ={"DISCORD_TOKEN": "MTA4.discord-token-value.xyz"})
    stream = io.StringIO()
    setup_logging("INFO", "text", config.redactor(), stream)
    logging.getLogger("bot.test").info("token MTA4.discord-token-value.xyz")
    assert stream.getvalue().rstrip().endswith("INFO bot.test: token **********")
    setup_logging("INFO", "text", config.redactor(), stream)  # a second setup replaces the first
    assert sum(h.get_name() == "paperbot" for h in logging.getLogger().handlers) == 1


@pytest.mark.parametrize("how", ["flag", "config"])
async def test_paperbot_run_logs_json_lines_without_secrets(tmp_path: Path, how: str) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PAPERBOT_DATABASE": str(tmp_path / "bot.db"),
        # A bot token alone starts no Slack (no app token): the console runs, and the token is known.
        "SLACK_BOT_TOKEN": TOKEN,
    }
    args = ["--log-format", "json", "run"] if how == "flag" else ["run"]
    if how == "config":
        env["PAPERBOT_BOT__LOG_FORMAT"] = "json"
    process = await paperbot(*args, "--adapter", "console", env=env, typed=True)
    out, err = await asyncio.wait_for(process.communicate(b"/track video retrieval\n"), 60)
    assert process.returncode == 0, err.decode()
    records = [json.loads(line) for line in err.decode().splitlines()]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any("running with console" in str(r["message"]) for r in records)
    assert "Now tracking" in out.decode()
    assert TOKEN not in err.decode() and TOKEN not in out.decode()
