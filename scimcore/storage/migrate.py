"""Schema migrations: run alembic's ``upgrade head`` from code.

Used by ``scimserver db upgrade`` and by the service on first start. The migration
scripts live in ``alembic/`` at the repository root; this is the only module outside
``storage/sql`` that imports alembic.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy.engine import URL, Engine

from alembic import command

from .sql.engine import make_engine

#: The alembic script directory (``<repo>/alembic``).
SCRIPT_LOCATION = Path(__file__).resolve().parents[2] / "alembic"


def alembic_config(url: str | URL | None = None) -> Config:
    """An alembic :class:`Config` pointing at our scripts (and at ``url`` if given)."""
    config = Config(str(SCRIPT_LOCATION.parent / "alembic.ini"))
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if url is not None:
        text = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        config.set_main_option("sqlalchemy.url", text.replace("%", "%%"))
    return config


def upgrade(url_or_engine: str | URL | Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (default: the latest schema)."""
    if isinstance(url_or_engine, Engine):
        engine, owned = url_or_engine, False
    else:
        engine, owned = make_engine(url_or_engine), True
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        if owned:
            engine.dispose()
