"""The rate limits' shared counters in the service's own database
(:class:`scimcore.ratelimit.RateLimitStore`).

Why the database and not a separate service (Redis, memcached): every process of the
service already shares it, so a limit holds across gunicorn workers and instances
with nothing new to run, secure and monitor; and the limits only write where an
honest client does not pay (a failed authentication, a batch of requests added by a
background thread). One statement adds and reads back a counter:
``INSERT ... ON CONFLICT (key, window_start) DO UPDATE SET n = n + excluded.n
RETURNING n`` (SQLite 3.35 and later, PostgreSQL), atomic on both, so two processes
adding at once both count. On PostgreSQL it runs in autocommit (one round trip) on an
UNLOGGED table (revision 0014: no wait for the WAL's flush at commit); on SQLite in a
short writing transaction, queued behind the process's other writers like every write
(:func:`.engine.transaction`), whose commit WAL mode does not flush either.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from .engine import transaction, unavailable_as_503
from .tables import rate_limit_counters


class SqlRateLimitStore:
    """Counters in ``rate_limit_counters`` (revision 0014) on ``engine``'s database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._postgresql = engine.dialect.name == "postgresql"
        c = rate_limit_counters.c
        insert = (postgresql.insert if self._postgresql else sqlite.insert)(rate_limit_counters)
        values = insert.values(
            key=sa.bindparam("k_key"),
            window_start=sa.bindparam("k_start"),
            n=sa.bindparam("k_n"),
            expires_at=sa.bindparam("k_expires"),
        )
        self._add = values.on_conflict_do_update(
            index_elements=[c.key, c.window_start], set_={"n": c.n + values.excluded.n}
        ).returning(c.n)
        self._purge = sa.delete(rate_limit_counters).where(c.expires_at <= sa.bindparam("k_now"))

    @contextmanager
    def _statement(self) -> Iterator[Connection]:
        """A connection whose one statement commits by itself (PostgreSQL: autocommit,
        no BEGIN/COMMIT round trips; SQLite: a writing transaction, which takes the
        write lock up front as every writer does)."""
        if not self._postgresql:
            with transaction(self.engine) as conn:
                yield conn
            return
        with unavailable_as_503(), self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    def add(self, key: str, window_start: int, amount: int, expires_at: int) -> int:
        params = {"k_key": key, "k_start": window_start, "k_n": amount, "k_expires": expires_at}
        with self._statement() as conn:
            return int(conn.execute(self._add, params).scalar_one())

    def purge(self, now: int) -> int:
        with self._statement() as conn:
            return int(conn.execute(self._purge, {"k_now": now}).rowcount)

    def count(self, key: str, window_start: int) -> int:
        """The counter's value (0 when it has none): for operators and tests."""
        c = rate_limit_counters.c
        with transaction(self.engine, write=False) as conn:
            found = conn.execute(
                sa.select(c.n).where(c.key == key, c.window_start == window_start)
            ).scalar()
        return int(found or 0)

    def __len__(self) -> int:
        with transaction(self.engine, write=False) as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(rate_limit_counters)).scalar()
                or 0
            )


__all__ = ["SqlRateLimitStore"]
