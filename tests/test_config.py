"""Configuration: defaults, validation messages that name file, key and reason, secrets."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.config import Secret, env_name, load_config, registered_platforms, section_types
from bot.config_check import describe, secret_problems
from bot.errors import ConfigError
from bot.platforms import missing_secrets


def sections() -> list[str]:
    """Every section: the core's and the registered platforms'."""
    return list(section_types(registered_platforms()))


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


def test_the_example_config_is_valid_and_documents_every_key_with_its_default() -> None:
    example = Path(__file__).resolve().parents[1] / "config.example.toml"
    cfg = load_config(example, environ={})
    text = example.read_text(encoding="utf-8")
    defaults = load_config(None, environ={})
    for section in sections():
        assert f"\n[{section}]\n" in text, f"config.example.toml has no [{section}]"
        assert cfg.section(section) == defaults.section(section), section
        for key in type(cfg.section(section)).__dataclass_fields__:
            assert f"\n{key} =" in text, f"config.example.toml does not document {section}.{key}"


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
    assert cfg.secrets.get("DISCORD_TOKEN") == Secret("disc-secret")
    shown = describe(cfg) + repr(cfg) + str(cfg.secrets.get("SLACK_BOT_TOKEN"))
    for value in env.values():
        assert value not in shown
    assert "**********" in shown


def test_missing_secrets_are_named_per_adapter() -> None:
    cfg = load_config(None, environ={"SLACK_BOT_TOKEN": "xoxb"})
    assert missing_secrets(cfg, "slack") == ["SLACK_APP_TOKEN"]
    assert missing_secrets(cfg, "discord") == ["DISCORD_TOKEN"]
    assert missing_secrets(cfg, "console") == []
    assert cfg.adapters() == ("console",)  # a bot token alone cannot open Socket Mode


# -- the environment --------------------------------------------------------------------------


def test_every_key_can_be_set_from_the_environment() -> None:
    """Each key, set to its default written as an operator would, reads back as that default."""
    defaults = load_config(None, environ={})
    env = {}
    for section in sections():
        for key, value in vars_of(defaults.section(section)).items():
            text = ",".join(value) if isinstance(value, tuple) else str(value)
            env[env_name(section, key)] = text or " "  # an empty value counts as unset
    cfg = load_config(None, environ=env)
    for section in sections():
        assert cfg.section(section) == defaults.section(section), section
    assert len(cfg.overrides) == sum(1 for v in env.values() if v.strip())


def test_holidays_from_the_environment_are_days_without_an_announcement() -> None:
    cfg = load_config(None, environ={"PAPERBOT_ARXIV__HOLIDAYS": "2026-12-24,2026-12-30"})
    assert {date(2026, 12, 25), date(2026, 12, 31)} <= cfg.arxiv.no_announcement_dates()  # the mornings after
    assert "holidays = [2026-12-24, 2026-12-30]  # from PAPERBOT_ARXIV__HOLIDAYS" in describe(cfg)


def vars_of(section: object) -> dict[str, object]:
    return {k: getattr(section, k) for k in type(section).__dataclass_fields__}


def test_environment_values_are_typed_and_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[schedule]\npost_time = "07:00"\n[digest]\nmax_papers = 5\n')
    env = {
        "PAPERBOT_SCHEDULE__POST_TIME": "8:30",
        "PAPERBOT_DIGEST__MAX_PAPERS": "20",
        "PAPERBOT_ARXIV__CATEGORIES": "cs.CV, stat.ML",
        "PAPERBOT_ARXIV__MIN_INTERVAL_S": "5",
        "PAPERBOT_BOT__LOG_LEVEL": "debug",
        "PAPERBOT_OPS__HTTP_PORT": "8080",
        "PAPERBOT_SLACK__MANAGERS": "U0ALICE,S0EDITORS",
        "PAPERBOT_DISCORD__DEV_GUILD_ID": "1234567890",
    }
    cfg = load_config(path, environ=env)
    assert cfg.schedule.post_time == "08:30"
    assert cfg.digest.max_papers == 20
    assert cfg.arxiv.categories == ("cs.CV", "stat.ML")
    assert cfg.arxiv.min_interval_s == 5.0
    assert cfg.bot.log_level == "DEBUG"
    assert cfg.ops.http_port == 8080
    assert cfg.section("slack").managers == ("U0ALICE", "S0EDITORS")
    assert cfg.section("discord").dev_guild_id == 1234567890
    shown = describe(cfg)
    assert 'post_time = "08:30"  # from PAPERBOT_SCHEDULE__POST_TIME' in shown
    assert "max_papers = 20  # from PAPERBOT_DIGEST__MAX_PAPERS" in shown


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PAPERBOT_ARXIV__CATEGORIES": '["cs", "math.AG"]'}, ("arxiv", "categories", ("cs", "math.AG"))),
        ({"PAPERBOT_SLACK__MANAGERS": "admins"}, ("slack", "managers", "admins")),
        ({"PAPERBOT_SLACK__MANAGERS": "U0ALICE"}, ("slack", "managers", ("U0ALICE",))),
        ({"PAPERBOT_SLACK__COMMAND_PREFIX": "pb-"}, ("slack", "command_prefix", "pb-")),
        ({"PAPERBOT_BOT__LOG_FORMAT": "json"}, ("bot", "log_format", "json")),
        ({"PAPERBOT_ARXIV__CATCH_UP_DAYS": "10"}, ("arxiv", "catch_up_days", 10)),
        (
            {"PAPERBOT_ARXIV__HOLIDAYS": "2026-12-31, 2026-12-24"},
            ("arxiv", "holidays", (date(2026, 12, 24), date(2026, 12, 31))),
        ),
        ({"PAPERBOT_ARXIV__HOLIDAYS": "[2026-12-24]"}, ("arxiv", "holidays", (date(2026, 12, 24),))),
        ({"PAPERBOT_DIGEST__MAX_PAPERS": ""}, ("digest", "max_papers", 15)),  # empty: unset
        ({"PAPERBOT_DATABASE": "/data/a.db"}, ("bot", "database", "/data/a.db")),
        (
            {"PAPERBOT_DATABASE": "/data/a.db", "PAPERBOT_BOT__DATABASE": "/data/b.db"},
            ("bot", "database", "/data/b.db"),
        ),
    ],
)
def test_environment_forms(env: dict[str, str], expected: tuple[str, str, object]) -> None:
    section, key, value = expected
    assert getattr(load_config(None, environ=env).section(section), key) == value


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"PAPERBOT_DIGEST__MAX_PAPERS": "lots"},
            'PAPERBOT_DIGEST__MAX_PAPERS: "lots" is not a whole number',
        ),
        ({"PAPERBOT_DIGEST__MAX_PAPERS": "0"}, "PAPERBOT_DIGEST__MAX_PAPERS: 0 papers is out of range"),
        ({"PAPERBOT_SCHEDULE__POST_TIME": "25:00"}, 'PAPERBOT_SCHEDULE__POST_TIME: "25:00" is not a time'),
        ({"PAPERBOT_OPS__HTTP_PORT": "70000"}, "PAPERBOT_OPS__HTTP_PORT: 70000 is not a port number"),
        ({"PAPERBOT_ARXIV__MIN_INTERVAL_S": "fast"}, '"fast" is not a number'),
        ({"PAPERBOT_ARXIV__CATEGORIES": '["cs"'}, "PAPERBOT_ARXIV__CATEGORIES: "),
        ({"PAPERBOT_ARXIV__CATEGORIES": ","}, "must be a non-empty list"),
        ({"PAPERBOT_ARXIV__CATCH_UP_DAYS": "31"}, "PAPERBOT_ARXIV__CATCH_UP_DAYS: 31 is out of range (0-30)"),
        ({"PAPERBOT_ARXIV__CATCH_UP_DAYS": "2.5"}, '"2.5" is not a whole number'),
        (
            {"PAPERBOT_ARXIV__HOLIDAYS": "2026-12-24, 24/12/2026"},
            "PAPERBOT_ARXIV__HOLIDAYS: '24/12/2026' is not a date (YYYY-MM-DD)",
        ),
        ({"PAPERBOT_ARXIV__HOLIDAYS": "2026-02-30"}, "'2026-02-30' is not a date (YYYY-MM-DD)"),
        ({"PAPERBOT_SLACK__MANAGERS": "bob"}, '\'bob\' is not "everyone", "admins"'),
        ({"PAPERBOT_SLACK__MANAGERS": "U0ALICE,bob"}, "'bob' is not a Slack user id"),
        ({"PAPERBOT_SLACK__COMMAND_PREFIX": "PB "}, "is not a command prefix"),
        ({"PAPERBOT_BOT__ADAPTER": "irc"}, "PAPERBOT_BOT__ADAPTER: 'irc' is not one of"),
        ({"PAPERBOT_SCHEDULE__POSTTIME": "08:00"}, "PAPERBOT_SCHEDULE__POSTTIME: unknown key"),
        ({"PAPERBOT_SCHEDULES__POST_TIME": "08:00"}, "PAPERBOT_SCHEDULES__POST_TIME: not a paperbot setting"),
        ({"PAPERBOT_SCHEDULE_POST_TIME": "08:00"}, "two underscores"),
        ({"PAPERBOT_ARXIV__MIN_INTERVAL_S": "1"}, "PAPERBOT_ARXIV__MIN_INTERVAL_S: 1 is below arXiv's limit"),
    ],
)
def test_environment_errors_name_the_variable_and_reason(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, environ=env)
    assert message in str(err.value)
    assert str(err.value).startswith("environment: ")


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[schedule]\npost_time = "25:00"\ntimezone = "Mars/Olympus"\n'
        "[digest]\nmax_papers = 0\ncolour = 1\n[nope]\nx = 1\n",
    )
    env = {"PAPERBOT_OPS__HTTP_PORT": "http", "PAPERBOT_SLACK__MODE": "carrier pigeon"}
    with pytest.raises(ConfigError) as err:
        load_config(path, environ=env)
    lines = str(err.value).splitlines()
    assert len(lines) == 7, lines
    for fragment in (
        "schedule.post_time",
        "schedule.timezone",
        "digest.max_papers",
        "digest.colour: unknown key",
        "[nope]: unknown section",
        "PAPERBOT_OPS__HTTP_PORT",
        "PAPERBOT_SLACK__MODE",
    ):
        assert sum(fragment in line for line in lines) == 1, fragment


def test_passwords_in_urls_and_secrets_are_masked_everywhere(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[arxiv]\napi_url = "https://reader:hunter2-mirror@mirror.example/api/query"\n'
        'contact = "xoxb-1234-5678-pastedbymistake"\n',
    )
    cfg = load_config(
        path, environ={"SLACK_BOT_TOKEN": "xoxb-the-real-one", "SLACK_APP_TOKEN": "xapp-1-real"}
    )
    shown = describe(cfg)
    assert 'api_url = "https://reader:**********@mirror.example/api/query"' in shown
    assert "hunter2-mirror" not in shown and "pastedbymistake" not in shown
    assert cfg.arxiv.api_url.endswith("hunter2-mirror@mirror.example/api/query")  # masked only when shown
    bad = write(tmp_path, '[slack]\napi_url = "ftp://bot:s3cr3t-pass@slack.example/"\n')
    env = {"PAPERBOT_DISCORD__API_URL": "gopher://me:0ther-pass@discord.example/"}
    with pytest.raises(ConfigError) as err:
        load_config(bad, environ=env)
    assert "s3cr3t-pass" not in str(err.value) and "0ther-pass" not in str(err.value)
    assert "ftp://bot:**********@slack.example/" in str(err.value)


def test_secret_problems_name_what_is_missing() -> None:
    cfg = load_config(None, environ={"PAPERBOT_BOT__ADAPTER": "discord", "SLACK_BOT_TOKEN": "xoxb-1"})
    errors, _ = secret_problems(cfg)
    assert errors == [
        "environment: PAPERBOT_BOT__ADAPTER: discord needs the environment variable(s) DISCORD_TOKEN"
    ]
    _, notes = secret_problems(load_config(None, environ={"SLACK_BOT_TOKEN": "xoxb-1"}))
    assert notes == ["Slack tokens are set but not SLACK_APP_TOKEN: Slack will not start"]
