"""``ConnectorContract``: the rules of :mod:`.base` as pytest tests, for any connector.

Subclass it and provide two fixtures: ``connector`` (an instance) and ``context`` (a
:class:`~.base.ConnectorContext` pointing at a real or test instance of the remote
service; each test uses fresh, uniquely named accounts)::

    class TestAcmeConnector(ConnectorContract):
        @pytest.fixture
        def connector(self) -> Connector:
            return AcmeConnector()

        @pytest.fixture
        def context(self, acme_sandbox) -> ConnectorContext:
            return ConnectorContext("org", 1, {"base_url": acme_sandbox.url}, BearerAuth(...))

Tests that need to read accounts back run only for connectors declaring
``Capability.DISCOVER``; the others check that each declared lifecycle call succeeds
and is safe to repeat (the engine retries).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import get_args

import pytest

from ...provisioning.connector import (
    AccountRef,
    AccountSpec,
    AuthMethod,
    Capability,
    Connector,
    ConnectorContext,
    RemoteAccount,
)
from ...provisioning.errors import AlreadyExists


def _spec(domain: str = "example.com") -> AccountSpec:
    login = f"contract-{uuid.uuid4().hex[:12]}@{domain}"
    return AccountSpec(
        account_id=login,
        email=login,
        display_name="Contract Tester",
        given_name="Contract",
        family_name="Tester",
        external_id=uuid.uuid4().hex,
    )


def _key() -> str:
    return uuid.uuid4().hex


class ConnectorContract:
    """Every connector passes these; see the module docstring for the fixtures."""

    #: The domain of the logins the tests create: a live tenant accepts only its own.
    login_domain = "example.com"

    def _spec(self) -> AccountSpec:
        return _spec(self.login_domain)

    @staticmethod
    def _needs(connector: Connector, capability: Capability) -> None:
        if capability not in connector.capabilities:
            pytest.skip(f"{connector.name} does not declare {capability.name}")

    # -- metadata -------------------------------------------------------------------------

    def test_declares_name_capabilities_and_auth_methods(self, connector: Connector) -> None:
        assert isinstance(connector.name, str) and connector.name
        assert isinstance(connector.display_name, str) and connector.display_name
        assert isinstance(connector.capabilities, Capability)
        assert connector.auth_methods
        assert set(connector.auth_methods) <= set(get_args(AuthMethod))
        assert connector.account_id_attribute in ("login", "email")
        assert isinstance(connector.requires_local_login, bool)
        address = getattr(connector, "address_setting", None)
        assert address is None or (isinstance(address, str) and address.isidentifier())

    def test_connection_check_succeeds(
        self, connector: Connector, context: ConnectorContext
    ) -> None:
        check = connector.test_connection(context)
        assert check.ok, check.message

    # -- lifecycle, for every connector -----------------------------------------------------

    def test_create_returns_the_account_with_its_login(
        self, connector: Connector, context: ConnectorContext
    ) -> None:
        self._needs(connector, Capability.CREATE)
        spec = self._spec()
        created = connector.create_account(context, spec, idempotency_key=_key())
        assert isinstance(created, RemoteAccount)
        assert created.login.lower() == spec.account_id.lower()
        assert created.remote_id and created.active

    def test_lifecycle_calls_are_safe_to_repeat(
        self, connector: Connector, context: ConnectorContext
    ) -> None:
        self._needs(connector, Capability.CREATE | Capability.DEACTIVATE | Capability.DELETE)
        created = connector.create_account(context, self._spec(), idempotency_key=_key())
        ref = AccountRef(remote_id=created.remote_id, account_id=created.login)
        for _ in range(2):
            connector.deactivate_account(context, ref, idempotency_key=_key())
        if Capability.REACTIVATE in connector.capabilities:
            for _ in range(2):
                connector.reactivate_account(context, ref, idempotency_key=_key())
        for _ in range(2):
            connector.delete_account(context, ref, idempotency_key=_key())

    # -- read-back, for connectors that can list and read -----------------------------------

    def test_created_account_can_be_read_found_and_listed(
        self, connector: Connector, context: ConnectorContext
    ) -> None:
        self._needs(connector, Capability.DISCOVER | Capability.CREATE)
        spec = self._spec()
        created = connector.create_account(context, spec, idempotency_key=_key())
        got = connector.get_account(context, AccountRef(remote_id=created.remote_id))
        assert got is not None and got.remote_id == created.remote_id
        by_login = connector.get_account(context, AccountRef(account_id=spec.account_id))
        assert by_login is not None and by_login.remote_id == created.remote_id
        assert spec.email is not None
        for kwargs in ({"account_id": spec.account_id}, {"email": spec.email}):
            found = connector.find_account(context, **kwargs)
            assert found is not None and found.remote_id == created.remote_id, kwargs
        listed = {a.remote_id for a in connector.iter_accounts(context, page_size=2)}
        assert created.remote_id in listed

    def test_missing_account_reads_as_none(
        self, connector: Connector, context: ConnectorContext
    ) -> None:
        self._needs(connector, Capability.DISCOVER)
        missing = f"missing-{uuid.uuid4().hex}@example.com"
        assert connector.get_account(context, AccountRef(account_id=missing)) is None
        assert connector.find_account(context, account_id=missing, email=missing) is None

    def test_creating_an_existing_account_raises_already_exists_and_makes_no_second(
        self, connector: Connector, context: ConnectorContext
    ) -> None:
        self._needs(connector, Capability.DISCOVER | Capability.CREATE)
        spec = self._spec()
        first = connector.create_account(context, spec, idempotency_key=_key())
        with pytest.raises(AlreadyExists) as info:
            connector.create_account(context, spec, idempotency_key=_key())
        if info.value.existing is not None:
            assert info.value.existing.remote_id == first.remote_id
        same = [
            a
            for a in connector.iter_accounts(context)
            if a.login.lower() == spec.account_id.lower()
        ]
        assert len(same) == 1

    def test_update_sets_the_desired_state_and_an_equal_state_changes_nothing(
        self, connector: Connector, context: ConnectorContext
    ) -> None:
        self._needs(connector, Capability.DISCOVER | Capability.CREATE | Capability.UPDATE)
        spec = self._spec()
        created = connector.create_account(context, spec, idempotency_key=_key())
        ref = AccountRef(remote_id=created.remote_id)
        desired = replace(spec, display_name="Renamed Tester", family_name="Renamed")
        updated = connector.update_account(context, ref, desired, idempotency_key=_key())
        assert updated.display_name == "Renamed Tester"
        again = connector.update_account(context, ref, desired, idempotency_key=_key())
        assert again == updated
        got = connector.get_account(context, ref)
        assert got is not None and got.family_name == "Renamed"

    def test_deactivate_and_reactivate_are_idempotent(
        self, connector: Connector, context: ConnectorContext
    ) -> None:
        self._needs(
            connector,
            Capability.DISCOVER | Capability.CREATE | Capability.DEACTIVATE | Capability.REACTIVATE,
        )
        created = connector.create_account(context, self._spec(), idempotency_key=_key())
        ref = AccountRef(remote_id=created.remote_id)
        for _ in range(2):
            connector.deactivate_account(context, ref, idempotency_key=_key())
            got = connector.get_account(context, ref)
            assert got is not None and not got.active
        for _ in range(2):
            connector.reactivate_account(context, ref, idempotency_key=_key())
            got = connector.get_account(context, ref)
            assert got is not None and got.active

    def test_delete_removes_the_account_and_deleting_again_succeeds(
        self, connector: Connector, context: ConnectorContext
    ) -> None:
        self._needs(connector, Capability.DISCOVER | Capability.CREATE | Capability.DELETE)
        created = connector.create_account(context, self._spec(), idempotency_key=_key())
        ref = AccountRef(remote_id=created.remote_id)
        connector.delete_account(context, ref, idempotency_key=_key())
        assert connector.get_account(context, ref) is None
        connector.delete_account(context, ref, idempotency_key=_key())
