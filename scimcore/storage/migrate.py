"""Schema migrations: run alembic's ``upgrade head`` from code.

Used by ``scimserver db upgrade``, by the service on first start, and by embedding
applications (``upgrade(url)``). The migration scripts live in ``alembic/`` at the
repository root; the build (``setup.py``) copies them into the installed package as
``scimcore/storage/migrations/``, so an installed copy needs no source tree. The
alembic configuration is built here in code: no ``alembic.ini`` is read at run time
(the one in the repository is only for running the ``alembic`` command from a
checkout). This is the only module outside ``storage/sql`` that imports alembic.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy.engine import URL, Engine

from alembic import command

from .sql.engine import make_engine

#: Where an installed package holds the scripts (``setup.py`` puts them there).
PACKAGED_SCRIPTS = Path(__file__).resolve().parent / "migrations"
#: Where a checkout holds them (``<repo>/alembic``), used when nothing is packaged.
CHECKOUT_SCRIPTS = Path(__file__).resolve().parents[2] / "alembic"


class MigrationsNotFound(RuntimeError):
    """Neither an installed copy nor a checkout holds the migration scripts."""


def script_location() -> Path:
    """The alembic script directory: the installed copy, else the checkout's ``alembic/``.

    An editable install or a run from the checkout has no packaged copy and uses the
    repository's directory, so a migration added there is seen without a rebuild.
    Only a checkout (``alembic.ini`` beside it) counts: in an installed package the
    same relative path is ``site-packages/alembic``, the alembic library itself.
    """
    if (PACKAGED_SCRIPTS / "env.py").is_file():
        return PACKAGED_SCRIPTS
    in_checkout = (CHECKOUT_SCRIPTS.parent / "alembic.ini").is_file()
    if in_checkout and (CHECKOUT_SCRIPTS / "env.py").is_file():
        return CHECKOUT_SCRIPTS
    where = f"{PACKAGED_SCRIPTS}" + (f" or {CHECKOUT_SCRIPTS}" if in_checkout else "")
    raise MigrationsNotFound(
        f"the database migrations are missing (no env.py in {where}); "
        "reinstall the scimserver package"
    )


def alembic_config(url: str | URL | None = None) -> Config:
    """An alembic :class:`Config` pointing at our scripts (and at ``url`` if given)."""
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.set_main_option("path_separator", "os")
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
