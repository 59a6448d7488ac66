"""The worker provisions, updates, deactivates, reactivates and deletes linked accounts."""

from __future__ import annotations

import threading

import pytest

from scimcore.adapters.connectors.auth import HmacSigner, verify_signature

from .conftest import Env, make_env, scim_auth
from .fakes import FakeScim, Receiver


def test_created_user_is_provisioned_and_linked(env: Env, fake_scim: FakeScim) -> None:
    integration = env.integration("scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim))
    uid = env.create_user("new@example.com", displayName="New Person")
    stats = env.worker().run(until_idle=True)
    assert stats.succeeded == 1
    remote = fake_scim.by_name("new@example.com")
    assert remote is not None and remote["active"] is True
    assert remote["displayName"] == "New Person" and remote["externalId"] == uid
    link = env.prov.link(env.org.id, integration, uid)
    assert link is not None and link.remote_id == remote["id"]
    assert link.link_method == "created_by_us" and link.remote_status == "active"
    assert "account.created" in [e.type for e in env.prov.events(env.org.id)]


def test_existing_remote_account_is_linked_not_duplicated(env: Env, fake_scim: FakeScim) -> None:
    remote_id = fake_scim.add("EXISTING@example.com")
    integration = env.integration("scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim))
    uid = env.create_user("existing@example.com")
    env.worker().run(until_idle=True)
    assert fake_scim.creates == []
    link = env.prov.link(env.org.id, integration, uid)
    assert link is not None and link.remote_id == remote_id and link.link_method == "auto_matched"


def test_deactivation_in_the_idp_deactivates_and_reactivation_reverses(
    env: Env, fake_scim: FakeScim
) -> None:
    env.integration("scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim))
    uid = env.create_user("leaver@example.com")
    env.worker().run(until_idle=True)
    env.set_active(uid, False)
    env.worker().run(until_idle=True)
    assert fake_scim.by_name("leaver@example.com")["active"] is False  # type: ignore[index]
    env.set_active(uid, True)
    env.worker().run(until_idle=True)
    assert fake_scim.by_name("leaver@example.com")["active"] is True  # type: ignore[index]
    assert all(j.status == "succeeded" for j in env.jobs())


def test_delete_policy_deletes_the_remote_account_on_deactivation(
    env: Env, fake_scim: FakeScim
) -> None:
    integration = env.integration(
        "scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim), on_delete="delete_remote"
    )
    uid = env.create_user("deleted@example.com")
    env.worker().run(until_idle=True)
    env.set_active(uid, False)
    env.worker().run(until_idle=True)
    assert fake_scim.by_name("deleted@example.com") is None
    assert env.prov.link(env.org.id, integration, uid) is None


def test_delete_policy_deactivates_where_the_service_cannot_delete_and_says_so(
    env: Env, fake_scim: FakeScim
) -> None:
    """Slack and Salesforce keep their accounts: "delete the remote account" cannot be
    done there, and deactivating is as far as it goes (it failed the job before)."""
    from scimcore.adapters.connectors.scim2 import Scim2Connector
    from scimcore.provisioning.connector import Capability
    from scimcore.provisioning.registry import register

    class NoDelete(Scim2Connector):
        name = "scim2_no_delete"
        capabilities = Scim2Connector.capabilities & ~Capability.DELETE

    register(NoDelete)
    env.integration(
        "scim2_no_delete",
        {"base_url": fake_scim.url},
        auth=scim_auth(fake_scim),
        on_delete="delete_remote",
    )
    uid = env.create_user("kept@example.com")
    env.worker().run(until_idle=True)
    env.set_active(uid, False)
    env.worker().run(until_idle=True)
    assert fake_scim.by_name("kept@example.com")["active"] is False  # type: ignore[index]
    assert not [r for r in fake_scim.requests if r[0] == "DELETE"]
    last = env.jobs()[-1]
    assert last.status == "succeeded"
    assert last.result["applied"] == "deactivate_remote"
    assert "cannot delete accounts; deactivated instead" in last.result["note"]


def test_deleting_the_user_deactivates_the_remote_account_by_default(
    env: Env, fake_scim: FakeScim
) -> None:
    env.integration("scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim))
    uid = env.create_user("removed@example.com")
    env.worker().run(until_idle=True)
    env.scim("DELETE", f"/Users/{uid}")
    env.worker().run(until_idle=True)
    assert fake_scim.by_name("removed@example.com")["active"] is False  # type: ignore[index]


def test_profile_update_is_pushed_and_an_unchanged_one_writes_nothing(
    env: Env, fake_scim: FakeScim
) -> None:
    env.integration("scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim))
    uid = env.create_user("upd@example.com")
    env.worker().run(until_idle=True)
    env.scim(
        "PATCH",
        f"/Users/{uid}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "name.familyName", "value": "Renamed"}],
        },
    )
    env.worker().run(until_idle=True)
    assert fake_scim.by_name("upd@example.com")["name"]["familyName"] == "Renamed"  # type: ignore[index]
    writes = [r for r in fake_scim.requests if r[0] in ("PUT", "POST", "PATCH")]
    assert len(writes) == 2  # the create and one PUT: nothing for the unchanged update


def test_integrations_without_provisioning_get_no_jobs(env: Env, fake_scim: FakeScim) -> None:
    env.integration(
        "scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim), provisioning=False
    )
    env.create_user("off@example.com")
    env.worker().run(until_idle=True)
    assert env.jobs() == [] and fake_scim.requests == []


def test_manual_integration_records_the_changes_it_cannot_make(env: Env) -> None:
    integration = env.integration("manual", {})
    uid = env.create_user("manual@example.com")
    env.worker().run(until_idle=True)
    env.set_active(uid, False)
    env.worker().run(until_idle=True)
    link = env.prov.link(env.org.id, integration, uid)
    assert link is not None and link.remote_status == "suspended"
    types = [e.type for e in env.prov.events(env.org.id) if e.source == "engine"]
    assert types == ["account.created", "account.deactivated"]


def test_webhook_events_are_signed_and_carry_an_idempotency_key(
    env: Env, receiver: Receiver
) -> None:
    env.integration("webhook", {"url": receiver.url + "/hook"}, auth=HmacSigner("whsec"))
    uid = env.create_user("hook@example.com")
    env.worker().run(until_idle=True)
    env.set_active(uid, False)
    env.worker().run(until_idle=True)
    import json

    bodies = [json.loads(r.body) for r in receiver.received]
    assert [b["type"] for b in bodies] == ["account.created", "account.deactivated"]
    for r in receiver.received:
        assert verify_signature("whsec", r.headers["x-scimserver-signature"], r.body)
        assert not verify_signature("wrong", r.headers["x-scimserver-signature"], r.body)
        assert r.headers["idempotency-key"] == json.loads(r.body)["id"]
    assert "password" not in receiver.received[0].body.decode()


def test_webhook_failure_is_retried_with_the_same_idempotency_key(
    env: Env, receiver: Receiver
) -> None:
    env.integration("webhook", {"url": receiver.url}, auth=HmacSigner("whsec"))
    receiver.answers = [503, 200]
    env.create_user("retry@example.com")
    env.worker().run(until_idle=True)
    env.make_due()
    env.worker().run(until_idle=True)
    keys = [r.headers["idempotency-key"] for r in receiver.received]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert [j.status for j in env.jobs()] == ["succeeded"]


def test_jobs_of_one_user_run_in_event_order(env: Env, fake_scim: FakeScim) -> None:
    env.integration("scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim))
    uid = env.create_user("order@example.com")
    env.set_active(uid, False)
    env.worker(batch_size=10).run(until_idle=True)
    assert fake_scim.by_name("order@example.com")["active"] is False  # type: ignore[index]


def test_dead_job_can_be_retried(env: Env, fake_scim: FakeScim) -> None:
    env.integration("scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim))
    fake_scim.fault = lambda m, p: (400, {}, b'{"detail":"bad"}') if m == "POST" else None
    env.create_user("dead@example.com")
    env.worker().run(until_idle=True)
    (job,) = env.jobs()
    assert job.status == "dead" and "HTTP 400" in (job.last_error or "")
    fake_scim.fault = None
    assert env.prov.retry(job.id)
    assert not env.prov.retry(job.id)
    env.worker().run(until_idle=True)
    assert [j.status for j in env.jobs()] == ["succeeded"]


@pytest.mark.postgres
def test_concurrent_workers_on_postgres_never_run_a_job_twice(
    request: pytest.FixtureRequest, fake_scim: FakeScim
) -> None:
    env = make_env(request.getfixturevalue("migrated_postgres_url"))
    env.integration(
        "scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim), max_concurrency=64
    )
    for n in range(40):
        env.create_user(f"pg{n}-{env.org.slug}@example.com")
    fake_scim.delay = 0.02
    results = []

    def work() -> None:
        results.append(env.worker(batch_size=3).run(until_idle=True))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.succeeded for r in results) == 40
    assert sum(r.claimed for r in results) == 40
    assert len(fake_scim.creates) == len(set(fake_scim.creates)) == 40


def test_until_idle_plans_past_a_backlog_of_events_no_integration_wants(
    env: Env, fake_scim: FakeScim
) -> None:
    """A batch of planned events that made no job (another organization imported a CSV
    and provisions nothing) is progress, not idleness: the worker goes on to the
    events after it."""
    from scimcore.provisioning.events import NewEvent
    from scimcore.storage.sql.outbox import insert_event

    quiet = env.store.create_organization("quiet-org", "No integrations")
    with env.store.engine.begin() as conn:
        for n in range(1_200):  # more than the planner takes at once
            event = NewEvent("scim.user.updated", "User", f"u{n}", {}, "csv")
            insert_event(conn, quiet.id, event)
    env.integration("scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim))
    env.create_user("after-the-backlog@example.com")
    stats = env.worker().run(until_idle=True, max_seconds=60)
    assert fake_scim.by_name("after-the-backlog@example.com") is not None
    assert stats.planned >= 1_201 and stats.succeeded == 1


def test_the_csv_columns_of_an_account_reach_the_connector_as_extras(env: Env) -> None:
    """A Microsoft 365 account linked by CSV with a license profile: the job that
    provisions it hands the connector the profile and the immutable ID."""
    from typing import ClassVar

    from scimcore.accounts import IntegrationSettings
    from scimcore.adapters.connectors.manual import ManualConnector
    from scimcore.adapters.csv import ServiceAccountImporter
    from scimcore.provisioning.connector import (
        AccountRef,
        AccountSpec,
        ConnectorContext,
        RemoteAccount,
    )
    from scimcore.provisioning.registry import register
    from scimcore.storage.sql.provisioning import set_provisioning

    seen: list[AccountSpec] = []

    class Recording(ManualConnector):
        name: ClassVar[str] = "recording_extras"

        def create_account(
            self, ctx: ConnectorContext, spec: AccountSpec, *, idempotency_key: str
        ) -> RemoteAccount:
            seen.append(spec)
            return super().create_account(ctx, spec, idempotency_key=idempotency_key)

        def update_account(
            self,
            ctx: ConnectorContext,
            ref: AccountRef,
            desired: AccountSpec,
            *,
            idempotency_key: str,
        ) -> RemoteAccount:
            seen.append(desired)
            return super().update_account(ctx, ref, desired, idempotency_key=idempotency_key)

    register(Recording)
    env.create_user("licensed@example.com")  # no integration provisions yet
    with env.accounts.accounts(env.org.id) as session:
        m365 = session.create_integration(
            "Microsoft 365", "microsoft_365", IntegrationSettings(license_profiles=("E3",))
        )
    env.prov.bind(env.org.id, m365.id, "recording_extras", {})
    set_provisioning(env.store.engine, env.org.id, m365.id, True, manual=False)
    header = "operation,serviceDisplayName,userId,accountId,licenseProfile\r\n"
    row = "CREATE,Microsoft 365,licensed@example.com,lic@example.com,E3\r\n"
    report = ServiceAccountImporter(env.accounts, env.org.id).run((header + row).encode())
    assert report.failed == []
    env.worker().run(until_idle=True, max_seconds=30)
    spec = next(s for s in seen if s.account_id == "lic@example.com")
    assert spec.extras["license_profile"] == "E3"
    assert len(spec.extras["immutable_id"]) == 24  # assigned by the system on CREATE
