"""A thin wrapper over APScheduler 3.x with explicit timezones.

Jobs are named and replaced on change (`replace_existing`), so one digest
time has one delivery job whatever happened to the channels' settings.
Exceptions from jobs take the one error path; a job never takes the process
down. What the jobs are, and when they run, is `bot.scheduling.jobs`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, tzinfo
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.errors import ErrorReporter

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


class Scheduler:
    """Named async jobs on cron-like triggers."""

    def __init__(self, timezone: tzinfo, reporter: ErrorReporter) -> None:
        self._scheduler = AsyncIOScheduler(timezone=timezone)
        self._reporter = reporter

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def cron(self, job_id: str, job: Job, *, timezone: tzinfo, **fields: Any) -> None:
        """Run `job` on a cron schedule (`hour=9, minute=0, day_of_week="mon-fri"`).

        A job of the same id is replaced.
        """
        self._scheduler.add_job(
            self._guarded,
            CronTrigger(timezone=timezone, **fields),
            args=(job_id, job),
            id=job_id,
            replace_existing=True,
            coalesce=True,  # a backlog of missed runs is one run
            misfire_grace_time=3600,
            max_instances=1,
        )

    def remove(self, job_id: str) -> None:
        if self._scheduler.get_job(job_id) is not None:
            self._scheduler.remove_job(job_id)

    def next_fire(self, job_id: str, after: datetime) -> datetime | None:
        """When job `job_id` would next run after `after` (by its trigger; tests use it across DST)."""
        job = self._scheduler.get_job(job_id)
        if job is None:
            return None
        fire: datetime | None = job.trigger.get_next_fire_time(None, after)
        return fire

    async def run_now(self, job_id: str) -> None:
        """Run job `job_id` once, now, through the same error path as a scheduled run."""
        job = self._scheduler.get_job(job_id)
        if job is None:
            raise KeyError(job_id)
        await self._guarded(*job.args)

    def job_ids(self) -> list[str]:
        return [job.id for job in self._scheduler.get_jobs()]

    async def _guarded(self, job_id: str, job: Job) -> None:
        try:
            await job()
        except Exception as exc:
            self._reporter.failed(exc, f"job {job_id}")
