"""What `paperbot config check` says: the effective configuration, masked, and problems with secrets.

The loading and validation are in bot/config.py; this module only reports on a loaded `Config`.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date

from bot.config import Config, section_types
from bot.platforms import missing_secrets


def llm_status(cfg: Config) -> str:
    """One line for `paperbot config check`: whether LLM TL;DRs are on, and with what."""
    llm = cfg.llm
    if not llm.enabled:
        return "LLM TL;DRs: off (set llm.base_url and llm.model to turn them on)"
    key = "PAPERBOT_LLM_API_KEY set" if cfg.secrets.paperbot_llm_api_key else "no PAPERBOT_LLM_API_KEY"
    return (
        f"LLM TL;DRs: on, {llm.model} at {llm.base_url} ({key}); at most {llm.max_papers_per_day} a day,"
        f" a digest waits at most {llm.timeout_s:g} s for them"
    )


def secret_problems(cfg: Config) -> tuple[list[str], list[str]]:
    """(errors, notes) about the secrets: a configured adapter without its tokens, half a platform's set."""
    errors: list[str] = []
    notes: list[str] = []
    if cfg.bot.adapter != "auto":
        missing = missing_secrets(cfg, cfg.bot.adapter)
        if missing:
            errors.append(
                f"{cfg.origin('bot.adapter')}: {cfg.bot.adapter} needs the environment variable(s) "
                f"{', '.join(missing)}"
            )
        return errors, notes
    for spec in cfg.platforms:
        missing = missing_secrets(cfg, spec.name)
        if missing and any(cfg.secrets.get(name) for name in spec.secrets):
            notes.append(
                f"{spec.title} tokens are set but not {', '.join(missing)}: {spec.title} will not start"
            )
    return errors, notes


def describe(cfg: Config) -> str:
    """The effective configuration as TOML-like text; secrets and URL passwords masked."""
    overridden = dict(cfg.overrides)
    lines = [f"# effective configuration (from {cfg.source}, and the environment where noted)"]
    for name in section_types(cfg.platforms):
        section = cfg.section(name)
        lines.append(f"\n[{name}]")
        for sf in fields(section):
            line = f"{sf.name} = {_toml_value(getattr(section, sf.name))}"
            var = overridden.get(f"{name}.{sf.name}")
            lines.append(f"{line}  # from {var}" if var else line)
    lines.append(f"\n# database file: {cfg.database_path}")
    lines.append(f"# adapters: {', '.join(cfg.adapters())}")
    lines.append(f"# {llm_status(cfg)}")
    lines.append("\n# secrets (from the environment)")
    for name in cfg.secret_names():
        value = cfg.secrets.get(name)
        lines.append(f"# {name}: {'**********' if value else '(not set)'}")
    return cfg.redactor()("\n".join(lines))


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, date):
        return value.isoformat()  # a TOML date
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
