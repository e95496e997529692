"""What /healthz reports: the database takes writes, harvests work, every chat platform is connected.

Each check gives a small JSON object with `ok`; the whole is healthy when every check is. A
harvest that failed once is not unhealthy (arXiv has bad hours and the next harvest catches
up); it is when the latest harvest failed and the last one that worked is older than
`ops.harvest_max_age_hours`. A fresh install that has harvested nothing yet is healthy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot import __version__
from bot.config import OpsConfig
from storage import Store
from storage.harvests import HarvestRun

DATABASE_TIMEOUT_S = 5.0
# Runs that worked (bot.arxiv.harvest records them): days read ("ok"), a feed not rebuilt yet and
# re-polled ("empty"), nothing left to read ("no_announcement").
WORKED = ("ok", "no_announcement", "empty")
FINISHED = ("ok", "no_announcement", "empty", "failed")


class Named(Protocol):
    name: str


@dataclass(frozen=True, slots=True)
class Health:
    """The answer to /healthz: healthy or not, and the JSON body saying why."""

    ok: bool
    body: dict[str, Any]


async def check_health(store: Store, adapters: Sequence[Named], ops: OpsConfig, now: datetime) -> Health:
    """Run every check (each bounded in time) and combine them."""
    checks = {
        "database": await _database(store, now),
        "harvest": await _harvest(store, ops, now),
        "adapters": _adapters(adapters),
    }
    ok = all(c["ok"] for c in checks.values())
    return Health(ok, {"status": "ok" if ok else "failing", "version": __version__, "checks": checks})


async def _database(store: Store, now: datetime) -> dict[str, Any]:
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_S):
            await store.health.touch(now)
    except TimeoutError:
        return {"ok": False, "error": f"no write within {DATABASE_TIMEOUT_S:g} s (locked or stuck)"}
    except Exception as exc:  # whatever the reason, the answer is "not writable", with the reason
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True}


def _age(run: HarvestRun | None, now: datetime) -> float | None:
    if run is None:
        return None
    return round((now - (run.finished_at or run.started_at)).total_seconds(), 1)


async def _harvest(store: Store, ops: OpsConfig, now: datetime) -> dict[str, Any]:
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_S):
            latest = await store.harvests.latest(FINISHED)
            worked = await store.harvests.latest(WORKED)
    except Exception as exc:
        return {"ok": False, "error": f"cannot read the harvest record: {type(exc).__name__}: {exc}"}
    if latest is None:
        return {"ok": True, "status": "none yet"}
    worked_age = _age(worked, now)
    stale = worked_age is None or worked_age > ops.harvest_max_age_hours * 3600
    body: dict[str, Any] = {
        "ok": not (latest.status == "failed" and stale),
        "status": latest.status,
        "announced": latest.announced.isoformat() if latest.announced else None,
        "age_seconds": _age(latest, now),
        "last_worked_age_seconds": worked_age,
    }
    if latest.error:
        body["error"] = latest.error
    return body


def _adapters(adapters: Sequence[Named]) -> dict[str, Any]:
    # An adapter without a `connected` property cannot say; it is not counted against health.
    state = {a.name: getattr(a, "connected", None) for a in adapters}
    return {
        "ok": all(c is not False for c in state.values()),
        **{n: {"connected": c} for n, c in state.items()},
    }
