"""The storage facade: one database, its repositories, one lifecycle."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from storage.channels import ChannelRepository
from storage.database import Database
from storage.days import DayRepository
from storage.deliveries import DeliveryRepository
from storage.harvests import HarvestRepository
from storage.health import HealthRepository
from storage.papers import PaperRepository
from storage.reactions import ReactionRepository
from storage.search import SearchIndex
from storage.subscriptions import SubscriptionRepository
from storage.summaries import SummaryRepository
from storage.trending import TrendingRepository


class Store:
    """Everything paperbot keeps, behind domain methods."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.channels = ChannelRepository(db)
        self.subscriptions = SubscriptionRepository(db, self.channels)
        self.papers = PaperRepository(db)
        self.search = SearchIndex(db)
        self.harvests = HarvestRepository(db)
        self.days = DayRepository(db)
        self.deliveries = DeliveryRepository(db, self.channels)
        self.health = HealthRepository(db)
        self.reactions = ReactionRepository(db, self.channels)
        self.summaries = SummaryRepository(db)
        self.trending = TrendingRepository(db)

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        return cls(await Database.open(path))

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
