"""The command line as a user meets it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot import __version__
from bot.cli import main
from tests.fakes.operator import paperbot


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


def test_config_check_reports_every_problem_at_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[bot]\nadapter = "discord"\n[schedule]\npost_time = "25:00"\n[digest]\nmax_papers = 0\n'
        '[arxiv]\napi_url = "ftp://reader:hunter2-pass@mirror.example/"\n',
        encoding="utf-8",
    )
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.setenv("PAPERBOT_OPS__HTTP_PORT", "eighty")
    assert main(["config", "check", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("paperbot: ")]
    assert len(errors) == 5, captured.err
    assert any("schedule.post_time" in e for e in errors)
    assert any("digest.max_papers" in e for e in errors)
    assert any("environment: PAPERBOT_OPS__HTTP_PORT" in e for e in errors)
    assert any("arxiv.api_url: 'ftp://reader:**********@mirror.example/'" in e for e in errors)
    assert any("bot.adapter: discord needs the environment variable(s) DISCORD_TOKEN" in e for e in errors)
    assert "config has 5 problems" in captured.err
    assert "hunter2-pass" not in captured.err + captured.out and captured.out == ""


def test_run_with_a_bad_environment_value_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PAPERBOT_DATABASE", str(tmp_path / "x.db"))
    monkeypatch.setenv("PAPERBOT_DIGEST__MAX_PAPERS", "many")
    assert main(["run"]) == 2
    assert 'environment: PAPERBOT_DIGEST__MAX_PAPERS: "many" is not a whole number' in capsys.readouterr().err


async def run_cli(*args: str, env: dict[str, str], stdin: bytes = b"") -> tuple[int, str, str]:
    process = await paperbot(*args, env=env, typed=True)
    out, err = await asyncio.wait_for(process.communicate(stdin), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_invite_url_offline_and_no_voice_warning_on_any_command(tmp_path: Path) -> None:
    """Each command as a user runs it, in its own process: stderr never mentions voice libraries."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PAPERBOT_DATABASE": str(tmp_path / "bot.db"),
        # arXiv is a refused local port: `harvest` fails fast instead of reaching the network.
        "PAPERBOT_ARXIV__API_URL": "http://127.0.0.1:9/api/query",
        "PAPERBOT_ARXIV__FEED_URL": "http://127.0.0.1:9",
        "PAPERBOT_ARXIV__MIN_INTERVAL_S": "0.01",
        "PAPERBOT_ARXIV__MAX_RETRIES": "1",
    }
    runs = await asyncio.gather(
        run_cli("discord", "invite-url", "--client-id", "123456789012345678", env=env),
        run_cli("discord", "invite-url", env=env),  # neither id nor token
        run_cli("discord", "invite-url", "--client-id", "not-a-number", env=env),
        run_cli("config", "check", env=env),
        run_cli("slack", "manifest", env=env),
        run_cli("--version", env=env),
        run_cli("run", "--adapter", "console", env=env, stdin=b"/tracked\n"),
        run_cli("harvest", "--dry-run", env=env),
    )
    for (_, _, err), args in zip(
        runs, ["invite", "invite", "invite", "check", "manifest", "version", "run", "harvest"], strict=True
    ):
        assert "voice" not in err.lower() and "pynacl" not in err.lower(), (args, err)
        assert "Traceback" not in err, (args, err)
    (code, out, err), (no_id, _, why), (bad_id, _, bad) = runs[:3]
    assert code == 0 and err == ""
    assert out.strip() == (
        "https://discord.com/oauth2/authorize?client_id=123456789012345678"
        "&scope=bot+applications.commands&permissions=309237730304"
    )
    assert no_id == 2 and "--client-id" in why and "DISCORD_TOKEN" in why
    assert bad_id == 2 and "is not an application id" in bad
    assert runs[6][0] == 0 and "tracks nothing yet" in runs[6][1]
    assert runs[7][0] == 1 and "cannot reach 127.0.0.1: connection refused" in runs[7][1]


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
