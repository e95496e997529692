"""The command line as a user meets it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import __version__
from bot.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"paperbot {__version__}"


def test_config_check_prints_effective_config_with_secrets_masked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    path = tmp_path / "c.toml"
    path.write_text('[schedule]\npost_time = "07:15"\n', encoding="utf-8")
    assert main(["config", "check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert 'post_time = "07:15"' in out
    assert "SLACK_BOT_TOKEN: **********" in out
    assert "xoxb-very-secret" not in out


def test_bad_config_exits_2_naming_the_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[schedule]\npost_time = "25:00"\n', encoding="utf-8")
    assert main(["--config", str(path), "run"]) == 2
    assert f'{path}: schedule.post_time: "25:00" is not a time' in capsys.readouterr().err


def test_platform_adapter_without_its_token_says_which_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.setenv("PAPERBOT_DATABASE", str(tmp_path / "x.db"))
    assert main(["run", "--adapter", "discord"]) == 2
    assert "DISCORD_TOKEN" in capsys.readouterr().err


def test_status_lists_the_last_announcement_days_without_asking_arxiv(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PAPERBOT_DATABASE", str(tmp_path / "x.db"))
    path = tmp_path / "c.toml"
    path.write_text("[arxiv]\ncatch_up_days = 3\n", encoding="utf-8")
    assert main(["status", "--config", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("arXiv announcement days (US Eastern), newest first")
    days = [line for line in out if line.startswith("  ") and "holiday" not in line]
    assert len(days) == 3 and all("before anything was tracked" in line for line in days)
    assert out[-1].startswith("next scheduled harvest: ") and out[-1].endswith("America/New_York")
