"""The `paperbot` command line: run, harvest, status, export, config check, and each platform's tools.

The only place that configures logging (libraries never do). Everything it prints about the
configuration or an error goes through the config's redactor: no secret reaches the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from bot import __version__
from bot.config import Config, check_config, default_config_path, registered_platforms
from bot.config_check import describe, secret_problems
from bot.errors import ConfigError, PaperbotError, PlatformAuthError, PlatformUnreachable, StorageError
from bot.export.formats import EXPORT_MAX, FORMATS
from bot.ops.logs import setup_logging
from bot.platforms import PlatformSpec
from bot.runtime.allocator import return_big_blocks

log = logging.getLogger("paperbot")


def build_parser(platforms: Sequence[PlatformSpec] = ()) -> argparse.ArgumentParser:
    """The parser: `run --adapter` names `platforms`, each of which may add its tools."""
    parser = argparse.ArgumentParser(prog="paperbot", description="arXiv paper alerts for Discord and Slack.")
    parser.add_argument("--version", action="version", version=f"paperbot {__version__}")
    parser.add_argument(
        "--log-level",
        default=None,
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity on stderr (default: bot.log_level from the config, INFO)",
    )
    parser.add_argument(
        "--log-format",
        default=None,
        choices=["text", "json"],
        help="log lines as text or as one JSON object per line (default: bot.log_format, text)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help=(
            "TOML config file (default: $PAPERBOT_CONFIG, else ./config.toml if present,"
            " else built-in defaults)"
        ),
    )
    # `--config` is also accepted after the subcommand, where people tend to type it.
    late_config = argparse.ArgumentParser(add_help=False)
    late_config.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run", parents=[late_config], help="run the bot (console adapter unless platform tokens are set)"
    )
    run.add_argument("--adapter", choices=[p.name for p in platforms], help="run only this adapter")

    harvest = sub.add_parser(
        "harvest",
        parents=[late_config],
        help="read today's arXiv announcements and any missed or partial day now, and print what was read",
    )
    harvest.add_argument(
        "--dry-run", action="store_true", help="fetch and count, but store nothing (no database write)"
    )
    sub.add_parser(
        "status",
        parents=[late_config],
        help="show the last announcement days: complete, partial or missing (no request to arXiv)",
    )

    export = sub.add_parser(
        "export",
        parents=[late_config],
        help="write a channel's topics, or queries, as DailyArXiv's Markdown, Atom, JSON, CSV or BibTeX",
        description=(
            "Read the bot's database (read-only: it runs beside a running bot) and write, per query, its "
            "latest papers by last update. The same data gives the same bytes, so a scheduled job can "
            "commit the file."
        ),
    )
    export.add_argument(
        "--channel",
        action="append",
        default=[],
        metavar="CHANNEL",
        help="a channel whose queries to export, as the logs name it (slack:T024BE7LD/C024BE91L, "
        "slack:T024BE7LD/#papers) or by its id or #name alone; repeatable",
    )
    export.add_argument(
        "--query", action="append", default=[], metavar="QUERY", help="a query to export; repeatable"
    )
    export.add_argument(
        "--format", choices=FORMATS, default="markdown", help="default: markdown (DailyArXiv's)"
    )
    export.add_argument(
        "--max", type=_count, default=EXPORT_MAX, metavar="N", help=f"papers per query (default {EXPORT_MAX})"
    )
    export.add_argument(
        "--date",
        type=_day,
        metavar="YYYY-MM-DD",
        help='the "Last update" date (default: the day of the newest paper listed; never the clock)',
    )
    export.add_argument("--title", help='the document\'s title (default "Daily Papers")')
    export.add_argument("--output", "-o", type=Path, metavar="FILE", help="write here (default: stdout)")
    export.add_argument(
        "--fetch",
        action="store_true",
        help="also ask arXiv's API for what the database lacks (one search per query); "
        "without a database, arXiv's answers only. Nothing is stored",
    )

    for platform in platforms:
        if platform.add_tools is not None:
            platform.add_tools(sub, late_config)

    cfg = sub.add_parser("config", help="configuration tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    cfg_sub.add_parser(
        "check",
        parents=[late_config],
        help="validate the config and print the effective settings, secrets masked",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    platforms = registered_platforms()
    parser = build_parser(platforms)
    args = parser.parse_args(argv)
    config, errors = check_config(args.config or default_config_path(_environ()), platforms=platforms)
    if args.command == "config":
        return _config_check(config, errors)
    if errors:
        for line in errors:
            print(f"paperbot: {line}", file=sys.stderr)
        return 2
    setup_logging(
        args.log_level or config.bot.log_level,
        args.log_format or config.bot.log_format,
        config.redactor(),
        quiet=[name for platform in platforms for name in platform.loggers],
    )
    if args.command == "run":
        return _run(config, args.adapter)
    if args.command == "harvest":
        return _harvest(config, dry_run=args.dry_run)
    if args.command == "status":
        return _status(config)
    if args.command == "export":
        from bot.export.command import ExportRequest, export_command

        request = ExportRequest(
            channels=tuple(args.channel),
            queries=tuple(args.query),
            fmt=args.format,
            limit=args.max,
            day=args.date,
            title=args.title,
            fetch=args.fetch,
        )
        return export_command(config, request, args.output, sys.stdout, sys.stderr)
    if getattr(args, "tool", None) is not None:  # a platform's tool (`paperbot slack manifest`)
        return int(args.tool(config, args))
    parser.print_help()
    return 2


def _count(text: str) -> int:
    """--max: 1 to 1,000 papers a query."""
    try:
        n = int(text) if len(text) <= 6 else 0
    except ValueError:
        n = 0
    if not 1 <= n <= 1000:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a number from 1 to 1000")
    return n


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a date (YYYY-MM-DD)") from None


def _config_check(config: Config, errors: list[str]) -> int:
    """`paperbot config check`: every problem at once, or the effective configuration."""
    secret_errors, notes = secret_problems(config)
    errors = errors + secret_errors
    for note in notes:
        print(f"paperbot: note: {note}", file=sys.stderr)
    if errors:
        for line in errors:
            print(f"paperbot: {line}", file=sys.stderr)
        print(f"\nconfig has {len(errors)} problem{'s' if len(errors) > 1 else ''}", file=sys.stderr)
        return 2
    print(describe(config))
    print("\nconfig OK", file=sys.stderr)
    return 0


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def _run(config: Config, adapter: str | None) -> int:
    return_big_blocks()  # a digest run's big blocks go back to the system (bot.runtime.allocator)
    try:
        asyncio.run(_serve(config, adapter))
    except KeyboardInterrupt:
        return 130
    except (ConfigError, StorageError, PlatformAuthError, PlatformUnreachable) as exc:
        print(f"paperbot: {config.redactor()(str(exc))}", file=sys.stderr)
        return 2
    except PaperbotError as exc:
        print(f"paperbot: {config.redactor()(str(exc))}", file=sys.stderr)
        return 1
    return 0


# How long `paperbot harvest` waits for the database while another paperbot holds it.
HARVEST_LOCK_WAIT_S = 10.0


def _harvest(config: Config, *, dry_run: bool) -> int:
    from bot.arxiv.harvest_cli import run_harvest_command
    from storage.process_lock import ProcessLock

    async def locked() -> int:
        # A dry run writes nothing, so it may run beside the bot; a real one takes its turn.
        lock = None if dry_run else await ProcessLock.acquire(config.database_path, wait=HARVEST_LOCK_WAIT_S)
        try:
            return await run_harvest_command(config, dry_run=dry_run, out=sys.stdout)
        finally:
            if lock is not None:
                lock.release()

    try:
        return asyncio.run(locked())
    except KeyboardInterrupt:
        return 130
    except (ConfigError, StorageError) as exc:
        print(f"paperbot: {config.redactor()(str(exc))}", file=sys.stderr)
        return 2


def _status(config: Config) -> int:
    from bot.arxiv.harvest_cli import run_status_command

    try:
        return asyncio.run(run_status_command(config, out=sys.stdout))
    except (ConfigError, StorageError) as exc:
        print(f"paperbot: {config.redactor()(str(exc))}", file=sys.stderr)
        return 2


async def _serve(config: Config, adapter: str | None) -> None:
    from bot.app import App

    app = App.from_config(config, adapter=adapter)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows, non-main thread
            loop.add_signal_handler(sig, app.request_stop)
    async with app:
        names = ", ".join(a.name for a in app.adapters)
        log.info("paperbot %s running with %s; database %s", __version__, names, config.database_path)
        await app.wait_until_stopped()
    log.info("paperbot stopped")


if __name__ == "__main__":
    sys.exit(main())
