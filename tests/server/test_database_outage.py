"""When the database is unreachable the service answers 503, and recovers by itself."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest

from scimserver import Settings, create_app
from tests.conftest import ScimClient, new_org
from tests.server.tcp_proxy import TcpProxy
from tests.server.test_users_api import USER, assert_error


@pytest.mark.postgres
def test_database_outage_is_503_and_service_recovers(migrated_postgres_url: str) -> None:
    parts = urlsplit(migrated_postgres_url)
    proxy = TcpProxy(parts.port or 5432)
    proxy.start()
    try:
        netloc = (
            f"{parts.username}@127.0.0.1:{proxy.port}"
            if parts.username
            else f"127.0.0.1:{proxy.port}"
        )
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
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
    finally:
        proxy.stop()
