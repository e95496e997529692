"""The deployment files agree with the README and with paperbot itself.

No container is built here (the test machine has no container engine): the Dockerfile, the
compose file and the systemd unit are parsed and checked against what the README tells people
to run, against the console script, and against the configuration they set. The unit is also
checked by `systemd-analyze verify` where that exists.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from bot.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined, comments dropped."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    steps = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, args = line.strip().partition(" ")
            steps.append((instruction.upper(), args.strip()))
    return steps


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    last_from = max(i for i, (instruction, _) in enumerate(steps) if instruction == "FROM")
    return steps[last_from:]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in final_stage():
        if instruction == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def one(instruction: str) -> str:
    [args] = [a for i, a in final_stage() if i == instruction]
    return args


def readme_block(first_word: str) -> list[str]:
    """The README's shell lines starting with `first_word` (e.g. `docker run`)."""
    return [line for line in README.splitlines() if line.startswith(first_word)]


def test_the_image_runs_paperbot_run_as_the_console_script() -> None:
    command = json.loads(one("ENTRYPOINT")) + json.loads(one("CMD"))
    assert command == ["paperbot", "run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts["paperbot"] == "bot.cli:main"
    # The README's docker run passes no command of its own: the image's `paperbot run` runs.
    [run] = readme_block("docker run")
    assert shlex.split(run)[-1] == "paperbot"


def test_the_image_is_slim_runs_as_a_user_and_keeps_the_database_on_its_volume() -> None:
    base = one("FROM")
    assert re.fullmatch(r"python:3\.1[1-9]-slim", base), base
    user = one("USER").split(":")[0]
    assert user not in ("root", "0")
    env = image_env()
    volume = one("VOLUME")
    assert Path(env["PAPERBOT_DATABASE"]).parent == Path(volume)
    config = load_config(None, environ=env)  # the image's settings are valid paperbot settings
    assert config.database_path == Path(volume) / "paperbot.db"


def test_the_health_check_exposed_port_and_readme_use_the_same_port() -> None:
    env = image_env()
    port = load_config(None, environ=env).ops.http_port
    assert port > 0
    assert one("EXPOSE") == str(port)
    healthcheck = one("HEALTHCHECK")
    assert f"http://127.0.0.1:{port}/healthz" in healthcheck
    assert "CMD" in healthcheck
    [run] = readme_block("docker run")
    args = shlex.split(run)
    assert args[args.index("-p") + 1] == f"{port}:{port}"
    assert args[args.index("-v") + 1].endswith(":" + one("VOLUME"))
    assert args[args.index("--env-file") + 1] == "paperbot.env"
    # The comment at the top of the Dockerfile shows the same commands as the README.
    header = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert run.removeprefix("docker run") in header
    [build] = readme_block("docker build")
    assert build in header and "-f deploy/Dockerfile" in build


def test_the_build_copies_what_exists_and_the_context_keeps_it() -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for instruction, args in dockerfile():
        if instruction != "COPY" or args.startswith("--from"):
            continue
        *sources, _ = args.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source


def test_compose_builds_the_same_image_with_its_volume_port_and_env_file() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    service = compose["services"]["paperbot"]
    assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == (
        DEPLOY / "Dockerfile"
    ).resolve()
    assert service["restart"] in ("unless-stopped", "always", "on-failure")
    assert service["env_file"] == "paperbot.env" and (DEPLOY / "paperbot.env.example").exists()
    [volume] = service["volumes"]
    assert volume.split(":")[0] in compose["volumes"] and volume.endswith(":" + one("VOLUME"))
    port = load_config(None, environ=image_env()).ops.http_port
    assert [p.rsplit(":", 2)[-2:] for p in service["ports"]] == [[str(port), str(port)]]
    load_config(None, environ={k: str(v) for k, v in service["environment"].items()})
    assert "docker compose -f deploy/compose.yaml up" in README


def unit() -> dict[str, dict[str, list[str]]]:
    """deploy/paperbot.service as section -> key -> values (systemd allows a key more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in (DEPLOY / "paperbot.service").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        else:
            key, _, value = line.partition("=")
            current.setdefault(key, []).append(value)
    return sections


def test_the_systemd_unit_runs_paperbot_as_its_own_user_with_state_and_secrets() -> None:
    service = unit()["Service"]
    assert service["ExecStart"] == ["/opt/paperbot/bin/paperbot run"]
    assert service["DynamicUser"] == ["yes"] and service["User"] == ["paperbot"]
    assert service["StateDirectory"] == ["paperbot"]
    assert service["Restart"] == ["on-failure"] and service["RestartPreventExitStatus"] == ["2"]
    [env_file] = service["EnvironmentFile"]
    env = dict(value.split("=", 1) for value in service["Environment"])
    config = load_config(None, environ=env)
    assert config.database_path.parent == Path("/var/lib/paperbot")
    for hardening in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert service[hardening][0] in ("yes", "strict"), hardening
    assert unit()["Install"]["WantedBy"] == ["multi-user.target"]
    # The README installs it where the unit expects things.
    assert "/opt/paperbot/bin/pip install ." in README and env_file in README
    assert "deploy/paperbot.service /etc/systemd/system/" in README


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    # verify checks that ExecStart exists: point it at this checkout's installed console script.
    paperbot = shutil.which("paperbot")
    if paperbot is None:
        pytest.skip("paperbot is not installed as a console script")
    text = (DEPLOY / "paperbot.service").read_text(encoding="utf-8")
    copy = tmp_path / "paperbot.service"
    copy.write_text(text.replace("/opt/paperbot/bin/paperbot", paperbot), encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_the_env_file_example_holds_exactly_the_secrets() -> None:
    keys = [
        line.split("=", 1)[0]
        for line in (DEPLOY / "paperbot.env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert sorted(keys) == sorted(Config().secret_names())
    assert "deploy/paperbot.env" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
