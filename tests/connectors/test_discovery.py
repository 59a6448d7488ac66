"""Discovery links by exact login/e-mail and classifies; a failed run changes nothing."""

from __future__ import annotations

from scimcore.adapters.connectors.credential_source import StaticCredentials
from scimcore.provisioning.discovery import sync

from .conftest import Env, scim_auth
from .fakes import FakeScim


def _run(env: Env, integration: int):  # type: ignore[no-untyped-def]
    return sync(env.prov, StaticCredentials(env.auth), env.org.id, integration, page_size=2)


def test_accounts_are_classified_managed_retired_external_and_unknown(
    env: Env, fake_scim: FakeScim
) -> None:
    integration = env.integration(
        "scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim), provisioning=False
    )
    env.prov.add_domain(env.org.id, "example.com")
    env.create_user("alice@example.com")
    bob = env.create_user("bob@example.com")
    env.set_active(bob, False)
    fake_scim.add("ALICE@example.com")
    fake_scim.add("bob-remote", email="bob@example.com")
    fake_scim.add("partner@other.org")
    fake_scim.add("ghost@example.com")
    result = _run(env, integration)
    assert result.ok
    classes = {ob.account_id: ob.classification for ob in result.observations}
    assert classes == {
        "ALICE@example.com": "managed",
        "bob-remote": "retired",
        "partner@other.org": "external",
        "ghost@example.com": "unknown",
    }
    assert result.run.counts["orphans"] == 1 and result.run.counts["linked"] == 2
    types = [e.type for e in env.prov.events(env.org.id) if e.source == "engine"]
    assert "account.orphan_detected" in types and "account.retired_detected" in types


def test_display_names_never_link(env: Env, fake_scim: FakeScim) -> None:
    integration = env.integration(
        "scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim), provisioning=False
    )
    env.create_user("carol@example.com", displayName="Carol")
    uid = fake_scim.add("carol-x", email="carol.other@example.com")
    fake_scim.users[uid]["displayName"] = "Carol"
    (ob,) = _run(env, integration).observations
    assert ob.user_id is None and ob.classification == "unknown"


def test_a_run_that_fails_half_way_marks_nothing_missing(env: Env, fake_scim: FakeScim) -> None:
    integration = env.integration(
        "scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim), provisioning=False
    )
    for n in range(5):
        fake_scim.add(f"acct{n}@example.com")
    assert _run(env, integration).ok
    before = env.prov.discovery_state(env.org.id, integration).accounts
    fake_scim.fault = lambda m, p: (500, {}, b"") if "startIndex=3" in p else None
    failed = _run(env, integration)
    assert not failed.ok and failed.run.error and "HTTP 500" in failed.run.error
    assert env.prov.discovery_state(env.org.id, integration).accounts == before
    binding = env.prov.binding(env.org.id, integration)
    assert binding is not None and binding.integration.status == "sync_failed"
    fake_scim.fault = None
    del fake_scim.users[next(iter(fake_scim.users))]
    done = _run(env, integration)
    assert done.ok and done.run.counts["missing"] == 1
    statuses = sorted(
        str(a.remote_status) for a in env.prov.discovery_state(env.org.id, integration).accounts
    )
    assert statuses == ["active"] * 4 + ["deleted"]


def test_an_auth_failure_during_discovery_parks_the_integration(
    env: Env, fake_scim: FakeScim
) -> None:
    from scimcore.adapters.connectors import BearerAuth

    integration = env.integration(
        "scim2", {"base_url": fake_scim.url}, auth=BearerAuth("nope"), provisioning=False
    )
    result = _run(env, integration)
    assert not result.ok
    binding = env.prov.binding(env.org.id, integration)
    assert binding is not None and binding.integration.status == "needs_reauth"
