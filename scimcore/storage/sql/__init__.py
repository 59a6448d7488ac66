"""SQL storage (SQLite and PostgreSQL): :class:`SqlStore` on an engine from :func:`make_engine`."""

from .accounts import SqlAccountSession, SqlAccountStore
from .engine import DatabaseDriverMissing, make_engine, require_driver
from .store import SqlSession, SqlStore
from .tables import metadata

__all__ = [
    "DatabaseDriverMissing",
    "SqlAccountSession",
    "SqlAccountStore",
    "SqlSession",
    "SqlStore",
    "make_engine",
    "metadata",
    "require_driver",
]
