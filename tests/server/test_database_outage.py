"""When the database is unreachable the service answers 503, and recovers by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import Engine

from scimcore.storage.sql import engine as sql_engine
from scimcore.storage.sql import make_engine
from scimserver import Settings, create_app
from tests.conftest import ScimClient, new_org
from tests.server.tcp_proxy import TcpProxy
from tests.server.test_users_api import USER, assert_error


def _through(proxy: TcpProxy, database_url: str) -> str:
    parts = urlsplit(database_url)
    netloc = (
        f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else f"127.0.0.1:{proxy.port}"
    )
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


@pytest.fixture
def proxy(migrated_postgres_url: str) -> Iterator[TcpProxy]:
    proxy = TcpProxy(urlsplit(migrated_postgres_url).port or 5432)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.mark.postgres
def test_database_outage_is_503_and_service_recovers(
    proxy: TcpProxy, migrated_postgres_url: str
) -> None:
    url = _through(proxy, migrated_postgres_url)
    app = create_app(Settings(database_url=url, public_url="https://scim.example.com"))
    slug, token = new_org(app)
    scim = ScimClient(app.test_client(), slug, token)
    assert scim.get("/Users").status_code == 200

    assert scim.client.get("/readyz").status_code == 200
    proxy.stop()
    assert scim.client.get("/readyz").status_code == 503
    assert scim.client.get("/healthz").status_code == 200  # liveness: process is up
    down = scim.post("/Users", {"schemas": [USER], "userName": "during-outage"})
    assert_error(down, 503)
    assert_error(scim.get("/Users"), 503)

    proxy.start()
    assert scim.get("/Users").status_code == 200
    assert scim.client.get("/readyz").status_code == 200
    created = scim.post("/Users", {"schemas": [USER], "userName": "after-outage"})
    assert created.status_code == 201
    names = [u["userName"] for u in scim.get("/Users").get_json()["Resources"]]
    assert names == ["after-outage"]


@pytest.mark.postgres
def test_a_database_restart_while_idle_costs_no_request(
    proxy: TcpProxy, migrated_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pooled connections idle past the ping threshold are checked before use, so the
    first request after a restart gets a fresh connection instead of a 503."""
    monkeypatch.setattr(sql_engine, "PING_AFTER_IDLE_SECONDS", 0.05)
    app = create_app(
        Settings(
            database_url=_through(proxy, migrated_postgres_url),
            public_url="https://scim.example.com",
        )
    )
    slug, token = new_org(app)
    scim = ScimClient(app.test_client(), slug, token)
    assert scim.get("/Users").status_code == 200
    proxy.stop()  # the pooled connections die with it
    proxy.start()
    time.sleep(0.1)
    created = scim.post("/Users", {"schemas": [USER], "userName": "after-restart"})
    assert created.status_code == 201, created.get_json()
    assert scim.get("/Users").get_json()["totalResults"] == 1


def _pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    seen: list[object] = []
    real = engine.dialect.do_ping

    def counted(dbapi_conn: object) -> bool:
        seen.append(dbapi_conn)
        return real(dbapi_conn)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return seen


@pytest.mark.postgres
def test_a_connection_in_steady_use_is_not_pinged(
    migrated_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load a connection comes back within milliseconds: no round trip to check
    it (the ping was 9 % of a POST). One idle past the threshold is pinged."""
    engine = make_engine(migrated_postgres_url, pool_size=1, max_overflow=0)
    pings = _pings(engine, monkeypatch)
    try:
        for _ in range(5):
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        assert pings == []
        monkeypatch.setattr(sql_engine, "PING_AFTER_IDLE_SECONDS", 0.01)
        time.sleep(0.05)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        assert len(pings) == 1
    finally:
        engine.dispose()
