"""When the database is unreachable the service answers 503, and recovers by itself."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import Engine

from scimcore.auth import hash_token, issue_token
from scimcore.storage.sql import SqlStore, make_engine
from scimcore.storage.sql import engine as sql_engine
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


def _service_through(proxy: TcpProxy, database_url: str) -> ScimClient:
    """The service on ``database_url`` reached through ``proxy``, with a new tenant."""
    settings = Settings(
        database_url=_through(proxy, database_url), public_url="https://scim.example.com"
    )
    app = create_app(settings)
    slug, token = new_org(app)
    return ScimClient(app.test_client(), slug, token)


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
    scim = _service_through(proxy, migrated_postgres_url)
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
    scim = _service_through(proxy, migrated_postgres_url)
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


@pytest.mark.postgres
def test_a_restart_under_load_costs_at_most_one_request(
    proxy: TcpProxy, migrated_postgres_url: str
) -> None:
    """Connections used within the last second are not pinged, so the first request
    after a restart may meet a dead one: it is a 503 at worst, never a 500, and the
    next request is served."""
    scim = _service_through(proxy, migrated_postgres_url)
    assert scim.get("/Users").status_code == 200
    proxy.stop()
    proxy.start()
    first = scim.post("/Users", {"schemas": [USER], "userName": "first-after-restart"})
    assert first.status_code in (201, 503), first.get_json()
    second = scim.post("/Users", {"schemas": [USER], "userName": "second-after-restart"})
    assert second.status_code == 201, second.get_json()


@pytest.mark.postgres
def test_the_token_lookup_replaces_a_dead_connection_itself(
    proxy: TcpProxy, migrated_postgres_url: str
) -> None:
    """The token lookup reads on the driver's connection directly; one that died with
    the database is discarded and the lookup made again on a new one."""
    engine = make_engine(_through(proxy, migrated_postgres_url), pool_size=1, max_overflow=0)
    store = SqlStore(engine)
    try:
        org = store.create_organization(f"dead-{uuid.uuid4().hex[:8]}", "Dead connection")
        digest = hash_token(issue_token(store, org).token)
        found = store.find_active_token(digest)
        assert found is not None and (found.id, found.profile) == (org.id, org.profile)
        proxy.stop()  # the pooled connection dies with it
        proxy.start()
        again = store.find_active_token(digest)
        assert again is not None and again.id == org.id
        assert again.created == found.created and again.created.tzinfo is not None
    finally:
        engine.dispose()
