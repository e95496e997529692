"""Configuration: defaults, validation messages that name file, key and reason, secrets."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.config import Secret, describe, load_config, missing_secrets
from bot.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_means_defaults_and_the_console() -> None:
    cfg = load_config(None, environ={})
    assert cfg.adapters() == ("console",)
    assert cfg.schedule.post_time == "09:00"
    assert cfg.database_path.name == "paperbot.db"


def test_database_can_come_from_the_environment(tmp_path: Path) -> None:
    cfg = load_config(None, environ={"PAPERBOT_DATABASE": str(tmp_path / "x.db")})
    assert cfg.database_path == tmp_path / "x.db"


def test_the_example_config_is_valid_and_documents_every_key() -> None:
    example = Path(__file__).resolve().parents[1] / "config.example.toml"
    cfg = load_config(example, environ={})
    text = example.read_text(encoding="utf-8")
    for section in ("bot", "schedule", "digest", "arxiv", "slack", "discord"):
        for key in type(getattr(cfg, section)).__dataclass_fields__:
            assert f"{key} =" in text, f"config.example.toml does not document {section}.{key}"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[schedule]\npost_time = "25:00"', 'config.toml: schedule.post_time: "25:00" is not a time'),
        ('[schedule]\ntimezone = "Mars/Olympus"', 'schedule.timezone: "Mars/Olympus" is not a timezone'),
        ("[digest]\nmax_papers = 0", "digest.max_papers: 0 papers is out of range"),
        ("[digest]\nmax_papers = true", "digest.max_papers: True is not a number"),
        ("[digest]\nlookback_days = 0", "digest.lookback_days: "),
        ("[digest]\nlookback_days = 365", "digest.lookback_days: "),
        ('[bot]\nadapter = "irc"', "bot.adapter: 'irc' is not one of auto, console, slack, discord"),
        ("[bot]\ncolour = 1", "bot.colour: unknown key"),
        ("[nope]\nx = 1", "[nope]: unknown section"),
        ('[arxiv]\napi_url = "ftp://x"', "arxiv.api_url: 'ftp://x' is not an http(s) URL"),
        ("[arxiv]\nmin_interval_s = 1", "below arXiv's limit of one request every 3 seconds"),
        ("[arxiv]\ncategories = []", "arxiv.categories: must be a non-empty list"),
        ("[arxiv]\ncatch_up_days = 0", "arxiv.catch_up_days: 0 is out of range (0-30)"),
        ("[arxiv]\ncatch_up_days = 2.5", "arxiv.catch_up_days: 2.5 is not a number"),
        ('[arxiv]\nholidays = ["2026-13-01"]', "arxiv.holidays: '2026-13-01' is not a date (YYYY-MM-DD)"),
        ('[arxiv]\nholidays = "2026-12-24"', "arxiv.holidays: must be a list of dates"),
        ("[arxiv]\nholidays = [2026-12-24T10:00:00]", "is not a date (YYYY-MM-DD)"),
        ("[slack\n", "not valid TOML"),
    ],
)
def test_invalid_values_name_file_key_and_reason(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, toml), environ={})
    assert message in str(err.value)
    assert str(err.value).startswith(str(tmp_path / "config.toml"))


def test_a_low_interval_is_allowed_against_a_local_server(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[arxiv]\napi_url = "http://127.0.0.1:9/api/query"\n'
        'feed_url = "http://127.0.0.1:9"\nmin_interval_s = 0.01',
    )
    assert load_config(path, environ={}).arxiv.min_interval_s == 0.01


def test_holidays_add_to_arxivs_and_become_the_days_without_an_announcement(tmp_path: Path) -> None:
    # Christmas Eve 2026 is a Thursday: no Thursday-evening announcement, so no Friday 25th one.
    cfg = load_config(write(tmp_path, '[arxiv]\nholidays = [2026-12-24, "2026-12-30"]'), environ={})
    assert cfg.arxiv.holidays == (date(2026, 12, 24), date(2026, 12, 30))
    dates = cfg.arxiv.no_announcement_dates()
    assert {date(2026, 12, 25), date(2026, 12, 31), date(2026, 11, 27)} <= dates
    assert "holidays = [2026-12-24, 2026-12-30]" in describe(cfg)
    assert load_config(write(tmp_path, "[arxiv]\ncatch_up_days = 10"), environ={}).arxiv.catch_up_days == 10


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nothere.toml: no such file"):
        load_config(tmp_path / "nothere.toml", environ={})


def test_secrets_come_only_from_the_environment_and_never_show() -> None:
    env = {"DISCORD_TOKEN": "disc-secret", "SLACK_BOT_TOKEN": "xoxb-secret", "SLACK_APP_TOKEN": "xapp-secret"}
    cfg = load_config(None, environ=env)
    assert cfg.adapters() == ("slack", "discord")
    assert cfg.secrets.discord_token == Secret("disc-secret")
    shown = describe(cfg) + repr(cfg) + str(cfg.secrets.slack_bot_token)
    for value in env.values():
        assert value not in shown
    assert "**********" in shown


def test_missing_secrets_are_named_per_adapter() -> None:
    cfg = load_config(None, environ={"SLACK_BOT_TOKEN": "xoxb"})
    assert missing_secrets(cfg, "slack") == ["SLACK_APP_TOKEN"]
    assert missing_secrets(cfg, "discord") == ["DISCORD_TOKEN"]
    assert missing_secrets(cfg, "console") == []
    assert cfg.adapters() == ("console",)  # a bot token alone cannot open Socket Mode
