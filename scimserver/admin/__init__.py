"""The admin console: server-rendered pages under ``/admin`` for IT administrators.

Sign-in, Settings > SCIM (tenant URL and token), Users and Groups, CSV import and
export, integrations and the activity trail. Views are thin: they parse the form,
call scimcore (the same store and filter engine as the SCIM API) and render a
template. The console needs the SQL store (its tables come with the migrations); an
application built on another store simply has no console.
"""

from __future__ import annotations

from flask import Flask

from scimcore import ScimService
from scimcore.adapters.csv import DEFAULT_MAX_BYTES
from scimcore.ratelimit import MemoryRateLimitStore, RateLimits

from ..wiring import Parts
from .blueprint import Console, bp
from .security import CookiePolicy, Sessions, Throttle

__all__ = ["init_admin"]


def init_admin(
    app: Flask,
    parts: Parts,
    service: ScimService,
    rate_limits: RateLimits | None = None,
) -> bool:
    """Register the console on ``app``; False (and nothing registered) without SQL.
    Failed sign-ins count in ``rate_limits`` (per client address) as well as in the
    console's own throttle (per email and address)."""
    sql = parts.sql
    if sql is None:
        return False
    settings = parts.settings
    from . import (  # noqa: F401  (importing a views module registers its routes)
        views_activity,
        views_auth,
        views_csv,
        views_dashboard,
        views_directory,
        views_docs,
        views_integration_new,
        views_integration_settings,
        views_integrations,
        views_scim,
    )

    admins = sql.admins
    secure = bool(settings.public_url and settings.public_url.startswith("https://"))
    app.extensions["scimserver_admin"] = Console(
        parts=parts,
        settings=settings,
        store=sql.store,
        service=service,
        admins=admins,
        accounts=sql.accounts,
        sessions=Sessions(admins, CookiePolicy(secure=secure)),
        throttle=Throttle(admins),
        rate_limits=rate_limits or RateLimits(MemoryRateLimitStore(), settings.rate_limits()),
        keyring=parts.keyring,
        upload_limit=DEFAULT_MAX_BYTES + 256 * 1024,
    )
    app.register_blueprint(bp)
    return True
