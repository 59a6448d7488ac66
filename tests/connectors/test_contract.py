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
