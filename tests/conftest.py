"""Shared fixtures: a backend per database, the Flask app over it, and an authorised client.

SQLite always runs; PostgreSQL runs when SCIMSERVER_TEST_POSTGRES_URL is set (.ci/run sets
it). Each test session gets its own freshly created PostgreSQL database, so concurrent
runs and other suites never see each other's data.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PG_ENV = "SCIMSERVER_TEST_POSTGRES_URL"


def _pg_admin_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session (skips when unset)."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    import psycopg

    name = f"scim_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_admin_url(base), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    prefix, _, _ = base.rpartition("/")
    yield f"{prefix}/{name}"
    with psycopg.connect(_pg_admin_url(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_postgres_url(postgres_database_url: str) -> str:
    from scimcore.storage.migrate import upgrade

    upgrade(postgres_database_url)
    return postgres_database_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'scim.db'}"
    url: str = request.getfixturevalue("migrated_postgres_url")
    return url


class ScimClient:
    """A Flask test client bound to one tenant URL and token, speaking SCIM JSON."""

    def __init__(self, client: Any, slug: str, token: str) -> None:
        self.client = client
        self.slug = slug
        self.token = token
        self.base = f"/scim/v2/organizations/{slug}"

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/scim+json",
        **kw: Any,
    ) -> Any:
        all_headers = {"Authorization": f"Bearer {token or self.token}", **(headers or {})}
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return self.client.open(
            self.base + path,
            method=method,
            data=data,
            headers=all_headers,
            content_type=content_type if data is not None else None,
            **kw,
        )

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)


@pytest.fixture
def app(database_url: str) -> Any:
    from scimserver import Settings, create_app

    return create_app(
        Settings(database_url=database_url, public_url="https://scim.example.com", max_page_size=50)
    )


def new_org(app: Any, name: str | None = None) -> tuple[str, str]:
    from scimcore import issue_token

    store = app.extensions["scimcore"]["store"]
    org = store.create_organization(name or f"org-{uuid.uuid4().hex[:10]}", name or "Test org")
    return org.slug, issue_token(store, org).token


@pytest.fixture
def scim(app: Any) -> ScimClient:
    slug, token = new_org(app)
    return ScimClient(app.test_client(), slug, token)


JWT_SECRET = "test-secret-that-is-long-enough-for-hs256!"


def make_jwt(**claims: Any) -> str:
    """An HS256 JWT the ``jwt_app`` accepts, with ``claims`` added or overridden."""
    import time

    import jwt

    base = {"iss": "https://idp.example.com", "aud": "scim", "exp": int(time.time()) + 300}
    return jwt.encode({**base, **claims}, JWT_SECRET, algorithm="HS256")


@pytest.fixture
def jwt_app(database_url: str) -> Any:
    """The app with JWT bearer tokens enabled (issuer, audience and ``org`` claim)."""
    from scimserver import Settings, create_app

    return create_app(
        Settings(
            database_url=database_url,
            public_url="https://scim.example.com",
            jwt_key=JWT_SECRET,
            jwt_issuer="https://idp.example.com",
            jwt_audience="scim",
        )
    )
