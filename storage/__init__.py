"""SQLite storage through aiosqlite: schema, migrations and repositories."""

from storage.store import Store

__all__ = ["Store"]
