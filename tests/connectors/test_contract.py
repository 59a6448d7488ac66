"""Every built-in connector passes the contract kit (scimcore.adapters.connectors.testing)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scimcore.adapters.connectors import (
    BearerAuth,
    Connector,
    ConnectorContext,
    HmacSigner,
    NoAuth,
    available,
    load,
)
from scimcore.adapters.connectors.testing import ConnectorContract

from .fakes import FakeScim, Receiver, receiver_server, scim_server


class TestManualConnector(ConnectorContract):
    @pytest.fixture
    def connector(self) -> Connector:
        return load("manual")

    @pytest.fixture
    def context(self) -> ConnectorContext:
        return ConnectorContext("org", 1, {}, NoAuth())


class TestWebhookConnector(ConnectorContract):
    @pytest.fixture
    def connector(self) -> Connector:
        return load("webhook")

    @pytest.fixture
    def context(self) -> Iterator[ConnectorContext]:
        with receiver_server(Receiver()) as r:
            yield ConnectorContext("org", 1, {"url": r.url + "/hook"}, HmacSigner("s3cret"))


class TestScim2ConnectorOnAFakeServer(ConnectorContract):
    @pytest.fixture
    def connector(self) -> Connector:
        return load("scim2")

    @pytest.fixture
    def context(self) -> Iterator[ConnectorContext]:
        with scim_server(FakeScim()) as fake:
            yield ConnectorContext("org", 1, {"base_url": fake.url}, BearerAuth(fake.token))


def test_built_in_connectors_are_registered_through_the_entry_point_group() -> None:
    assert {"manual", "webhook", "scim2", "google_workspace", "microsoft_365"} <= set(available())
    assert load("scim2").name == "scim2"


def test_a_connector_registered_in_code_is_loadable() -> None:
    from scimcore.adapters.connectors import register
    from scimcore.adapters.connectors.manual import ManualConnector

    class Custom(ManualConnector):
        name = "custom-test"

    register(Custom)
    assert isinstance(load("custom-test"), Custom)
    assert "custom-test" in available()


def test_unknown_connector_names_the_known_ones() -> None:
    from scimcore.adapters.connectors import UnsupportedOperation

    with pytest.raises(UnsupportedOperation, match="scim2"):
        load("nope")


def test_scimserver_connectors_lists_each_with_what_it_can_do() -> None:
    import json

    from click.testing import CliRunner

    from scimserver.cli import main

    result = CliRunner().invoke(main, ["connectors", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["microsoft_365"]["display_name"] == "Microsoft 365"
    assert rows["google_workspace"]["oauth_preset"] is True
    assert "discover" in rows["google_workspace"]["capabilities"]
    assert rows["scim2"]["address_setting"] == "base_url"
    assert "discover" not in rows["webhook"]["capabilities"]
    # license profiles: the connectors that apply them say so
    assert [n for n, r in rows.items() if "licenses" in r.get("capabilities", [])] == [
        "cybozu",
        "microsoft_365",
    ]
    text = CliRunner().invoke(main, ["connectors"]).output
    assert "microsoft_365\tMicrosoft 365\t" in text
