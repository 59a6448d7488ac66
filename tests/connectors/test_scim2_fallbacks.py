"""The scim2 connector copes with servers that lack PATCH or filters (seen in the wild)."""

from __future__ import annotations

from scimcore.adapters.connectors import AccountRef, BearerAuth, ConnectorContext, load

from .fakes import FakeScim


def _ctx(fake: FakeScim, **settings: object) -> ConnectorContext:
    return ConnectorContext(
        "org", 1, {"base_url": fake.url, **settings}, BearerAuth(fake.token), timeout=2
    )


def test_a_refused_patch_falls_back_to_put(fake_scim: FakeScim) -> None:
    for status in (405, 501, 400):
        uid = fake_scim.add(f"nopatch{status}@example.com")
        fake_scim.fault = lambda m, p, s=status: (s, {}, b"") if m == "PATCH" else None  # type: ignore[misc]
        connector = load("scim2")
        done = connector.deactivate_account(
            _ctx(fake_scim), AccountRef(remote_id=uid), idempotency_key="k"
        )
        assert done is not None and not done.active
        assert fake_scim.users[uid]["active"] is False
        assert fake_scim.users[uid]["userName"] == f"nopatch{status}@example.com"
    methods = [m for m, _ in fake_scim.requests]
    assert methods.count("PATCH") == 3 and methods.count("PUT") == 3


def test_patch_false_setting_never_sends_patch(fake_scim: FakeScim) -> None:
    uid = fake_scim.add("putonly@example.com", active=False)
    connector = load("scim2")
    done = connector.reactivate_account(
        _ctx(fake_scim, patch="false"), AccountRef(remote_id=uid), idempotency_key="k"
    )
    assert done is not None and done.active
    assert "PATCH" not in [m for m, _ in fake_scim.requests]


def test_a_refused_filter_falls_back_to_scanning_the_listing(fake_scim: FakeScim) -> None:
    uid = fake_scim.add("Scan.Me@example.com", email="scan.mail@example.com")
    for n in range(5):
        fake_scim.add(f"other{n}@example.com")
    fake_scim.fault = lambda m, p: (
        (400, {}, b'{"scimType":"invalidFilter"}') if "filter=" in p else None
    )
    connector = load("scim2")
    ctx = _ctx(fake_scim, page_size=2)
    assert connector.find_account(ctx, account_id="scan.me@example.com").remote_id == uid  # type: ignore[union-attr]
    assert connector.find_account(ctx, email="SCAN.MAIL@example.com").remote_id == uid  # type: ignore[union-attr]
    assert connector.find_account(ctx, account_id="nobody@example.com") is None
