"""SQL storage (SQLite and PostgreSQL): :class:`SqlStore` on an engine from :func:`make_engine`."""

from .accounts import SqlAccountSession, SqlAccountStore
from .engine import make_engine
from .store import SqlSession, SqlStore
from .tables import metadata

__all__ = [
    "SqlAccountSession",
    "SqlAccountStore",
    "SqlSession",
    "SqlStore",
    "make_engine",
    "metadata",
]
