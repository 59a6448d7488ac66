"""Alembic environment: our metadata, a URL from wherever the caller put it.

URL sources, first found wins: a connection passed in ``config.attributes``
(``scimcore.storage.migrate.upgrade``), ``-x url=...``, the ``sqlalchemy.url`` option,
the ``SCIMSERVER_DATABASE_URL`` environment variable. SQLite runs in batch mode
(``ALTER TABLE`` there can only add columns).
"""

from __future__ import annotations

import os

from sqlalchemy.engine import Connection

from alembic import context
from scimcore.storage.sql.engine import make_engine
from scimcore.storage.sql.tables import metadata

config = context.config
target_metadata = metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = (
        url or config.get_main_option("sqlalchemy.url") or os.environ.get("SCIMSERVER_DATABASE_URL")
    )
    if not url:
        raise RuntimeError(
            "No database URL: pass -x url=..., set sqlalchemy.url or SCIMSERVER_DATABASE_URL."
        )
    return url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
